/**
 * attachmentAlive: the one rule for "is the object attached at this slot
 * still alive", across a process killed by SIGKILL, a freed slot, another
 * thread's claim and a corrupt slot number.
 */

import { spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { CorruptError } from '../src/errors.js'
import { Segment } from '../src/memory/segment.js'
import { attachmentAlive, threadId } from '../src/ownership/liveness.js'

const KIND = { kind: 'test-xproc', version: 1 }
const participant = new URL('./fixtures/participant.mjs', import.meta.url)

describe('attachmentAlive()', () => {
  it('is true for a live attachment and its thread, false for a freed slot or another thread', () => {
    const segment = Segment.create(KIND, 64, { name: uniqueName('alive') })
    onTestFinished(() => segment.close())
    const other = Segment.open(KIND, segment.name)
    expect(attachmentAlive(segment, other.slot, true)).toBe(true)
    expect(attachmentAlive(segment, other.slot, true, threadId())).toBe(true)
    expect(attachmentAlive(segment, other.slot, false, threadId() + 1)).toBe(false)
    // Compared on the low bits only, as owner words store them.
    expect(attachmentAlive(segment, other.slot, true, threadId() | (1 << 22), 22)).toBe(true)
    const slot = other.slot
    other.close()
    expect(attachmentAlive(segment, slot, false)).toBe(false)
  })

  it('sees a SIGKILLed process only when thorough (memory alone cannot tell)', { timeout: 20_000 }, async () => {
    const segment = Segment.create(KIND, 64, { name: uniqueName('killed') })
    onTestFinished(() => segment.close())
    const holder = spawnChild(participant, ['open-hold', segment.name])
    await holder.waitFor('READY')
    const slot = Number(/READY (\d+)/.exec(holder.stdout())?.[1])
    expect(attachmentAlive(segment, slot, true)).toBe(true)
    holder.child.kill('SIGKILL')
    await holder.exited
    expect(attachmentAlive(segment, slot, false)).toBe(true)
    expect(attachmentAlive(segment, slot, true)).toBe(false)
  })

  it('throws CorruptError for a slot number no attachment can have', () => {
    const segment = Segment.create(KIND, 64, { name: uniqueName('corrupt') })
    onTestFinished(() => segment.close())
    expect(() => attachmentAlive(segment, 128, true)).toThrow(CorruptError)
    expect(() => attachmentAlive(segment, -1, false)).toThrow(CorruptError)
  })
})
