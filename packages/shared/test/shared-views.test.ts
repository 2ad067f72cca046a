/**
 * SharedArray.array and SharedMemory.buf are the shared memory itself: writes
 * in a child process or a worker thread are read here, and the reverse.
 */
import { Worker } from 'node:worker_threads'
import { Process } from '@ipc/core'
import { SharedArray, SharedMemory } from '@ipc/shared'
import { spawnChild } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'

const participant = new URL('./fixtures/shared-participant.mjs', import.meta.url)
const functions = new URL('./fixtures/shared-functions.mjs', import.meta.url)

function track<V extends { close(): void }>(value: V): V {
  onTestFinished(() => value.close())
  return value
}

function thread(args: string[]): Promise<string> {
  const worker = new Worker(participant, { workerData: args })
  onTestFinished(async () => {
    await worker.terminate()
  })
  return new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
}

describe('SharedArray#array across processes and threads', () => {
  it('a child process writes through its view; this process reads it in place, and the reverse', {
    timeout: 30_000,
  }, async () => {
    const array = track(new SharedArray('float64', 10_000))
    const view = array.array
    const filler = spawnChild(participant, ['fill', JSON.stringify(array.handle), '0.5'])
    expect(await filler.exited).toBe(0)
    expect(view[0]).toBe(0.5)
    expect(view[9999]).toBe(9999.5)
    view.fill(2)
    const summer = spawnChild(participant, ['sum', JSON.stringify(array.handle)])
    await summer.waitFor('SUM')
    expect(summer.stdout().trim()).toBe('SUM 20000')
  })

  it('a worker thread writes through its view and this thread sees it', { timeout: 30_000 }, async () => {
    const array = track(new SharedArray('int32', 1000))
    expect(await thread(['fill', JSON.stringify(array.handle), '7'])).toBe('DONE')
    expect(array.get(0)).toBe(7)
    expect(array.array[999]).toBe(1006)
    array.array.fill(1)
    expect(await thread(['sum', JSON.stringify(array.handle)])).toBe('SUM 1000')
  })

  it('Process hands the array to a child that fills it', { timeout: 30_000 }, async () => {
    const array = track(new SharedArray('uint8', 64))
    const child = new Process(functions, { exportName: 'fillArray', args: [array, 9] }).start()
    expect(await child.join()).toBe(0)
    expect(array.toArray().every((v) => v === 9)).toBe(true)
  })
})

describe('SharedMemory#buf across processes', () => {
  it('bytes written by a child are read here', { timeout: 30_000 }, async () => {
    const shm = track(SharedMemory.create({ size: 4097 }))
    const child = spawnChild(participant, ['shm-write', JSON.stringify(shm.handle), '171'])
    expect(await child.exited).toBe(0)
    expect(shm.buf.every((b) => b === 171)).toBe(true)
  })
})
