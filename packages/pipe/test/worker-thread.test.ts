import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { EOFError } from '../src/errors.js'
import { Pipe } from '../src/pipe.js'

const workerEcho = new URL('./fixtures/worker-echo.mjs', import.meta.url)

describe('Pipe between threads', () => {
  it('works with a worker thread given .handle, and a thread that ends without close() gives EOF', {
    timeout: 30_000,
  }, async () => {
    const [mine, theirs] = Pipe()
    const worker = new Worker(workerEcho, { workerData: theirs.handle })
    try {
      const exited = new Promise((resolve) => worker.once('exit', resolve))
      await new Promise((resolve) => worker.once('message', resolve))
      // Close our copy only once the worker holds the end.
      theirs.close()
      for (const msg of ['a', { b: 2 }, new Uint8Array(300_000)]) {
        await mine.send(msg)
        expect(await mine.recv({ timeout: 10_000 })).toEqual(msg)
      }
      await mine.send('stop')
      expect(await exited).toBe(0)
      await expect(mine.recv({ timeout: 10_000 })).rejects.toThrow(EOFError)
    } finally {
      await worker.terminate()
      mine.close()
      theirs.close()
    }
  })
})
