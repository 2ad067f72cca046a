import { existsSync } from 'node:fs'
import { inspect } from 'node:util'
import { uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { CorruptError, ExistsError, IncompatibleError, NotFoundError } from '../errors.js'
import { Segment } from '../memory/segment.js'
import { optionNames } from '../option-names.js'
import { TRANSFER } from './handle.js'
import {
  type Attachment,
  attachTo,
  type CreationSpec,
  checkPersistent,
  fromHandle,
  openPrimitive,
  Primitive,
  type PrimitiveKind,
} from './primitive.js'

// A tiny kind for the tests: one int32 word, its initial value given at creation.
interface BoxSpec extends CreationSpec {
  initial: number
}
interface BoxAttachment extends Attachment {
  word: Int32Array
}

const MAGIC = 0x58584f42
const detached: string[] = []

const BOX: PrimitiveKind<BoxAttachment, BoxSpec> = {
  segment: { kind: 'test-box', version: 1, label: 'box' },
  className: 'Box',
  module: import.meta.url,
  dataBytes: () => 8,
  init(segment, spec) {
    const i32 = new Int32Array(segment.buffer, segment.dataOffset, 2)
    i32[0] = MAGIC
    i32[1] = spec.initial
  },
  attach(segment) {
    const i32 = new Int32Array(segment.buffer, segment.dataOffset, 2)
    if (i32[0] !== MAGIC) throw new CorruptError(`Cannot open box "${segment.name}": bad magic`)
    return { segment, word: i32.subarray(1, 2) }
  },
}

function checkBox(options: { initial?: unknown; name?: string; persistent?: unknown } | undefined): BoxSpec {
  const initial = options?.initial ?? 0
  if (typeof initial !== 'number') throw new TypeError('The "initial" option must be a number')
  return { initial, name: options?.name, persistent: checkPersistent(options?.persistent) }
}

interface BoxOptions {
  initial?: number
  name?: string
  persistent?: boolean
}
const BOX_OPTIONS = optionNames<BoxOptions>({ initial: true, name: true, persistent: true })

class Box extends Primitive<BoxAttachment> {
  readonly word: Int32Array
  broken = false
  /** Thrown by the next detach (as a kind's detach meeting corrupt memory would). */
  detachError: Error | undefined

  constructor(options?: BoxOptions) {
    super(BOX, () => checkBox(options))
    this.word = this.attachment.word
  }

  static open(name: string, options?: { create?: boolean | { initial?: number; persistent?: boolean } }): Box {
    return openPrimitive(() => new Box(), BOX, name, options, checkBox, BOX_OPTIONS)
  }

  static from(handle: unknown): Box {
    return fromHandle(() => new Box(), BOX, handle)
  }

  protected override detach(): void {
    detached.push(this.name)
    if (this.detachError !== undefined) throw this.detachError
  }

  protected inspectFields(): Record<string, unknown> {
    if (this.broken) throw new CorruptError('broken')
    return { value: this.word[0] }
  }
}

function track<T extends { close(): void }>(value: T): T {
  onTestFinished(() => value.close())
  return value
}

describe('Primitive', () => {
  it('creates, opens by name and by handle, all on the same memory', () => {
    const box = track(new Box({ initial: 5, name: uniqueName('box') }))
    expect([box.created, box.persistent, box.closed]).toEqual([true, false, false])
    expect(box.handle).toEqual({ kind: 'test-box', name: box.name })
    const opened = track(Box.open(box.name))
    const fromHandle = track(Box.from(JSON.parse(JSON.stringify(box.handle))))
    expect([opened.created, fromHandle.created]).toEqual([false, false])
    opened.word[0] = 9
    expect([box.word[0], fromHandle.word[0]]).toEqual([9, 9])
    expect(() => new Box({ name: box.name })).toThrow(ExistsError)
    expect(() => Box.from({ kind: 'queue', name: box.name })).toThrow(TypeError)
  })

  it('open with create: exactly one creator, options validated first, another kind refused', () => {
    const name = uniqueName('box')
    expect(() => Box.open(name)).toThrow(NotFoundError)
    expect(() => Box.open(name, { create: { initial: 'x' as never } })).toThrow(TypeError)
    expect(existsSync(`/dev/shm/ipc-${name}`)).toBe(false)
    const first = track(Box.open(name, { create: { initial: 3 } }))
    const second = track(Box.open(name, { create: { initial: 4 } }))
    expect([first.created, second.created, second.word[0]]).toEqual([true, false, 3])
    const other = Segment.create({ kind: 'queue', version: 1 }, 8, { name: uniqueName('box') })
    onTestFinished(() => other.close())
    expect(() => Box.open(other.name, { create: true })).toThrow(IncompatibleError)
  })

  it('closes once (detach first), and removes a segment whose attach failed', () => {
    const box = new Box({ name: uniqueName('box') })
    box.close()
    box[Symbol.dispose]()
    expect(detached.filter((name) => name === box.name)).toHaveLength(1)
    expect(box.closed).toBe(true)
    expect(existsSync(`/dev/shm/ipc-${box.name}`)).toBe(false)
    // A segment of the right kind whose data the attach refuses: nothing is left attached.
    const name = uniqueName('box')
    const bad = Segment.create(BOX.segment, 8, { name })
    expect(() => Box.open(name)).toThrow(CorruptError)
    bad.close()
    expect(existsSync(`/dev/shm/ipc-${name}`)).toBe(false)
  })

  it('closes without throwing when detach meets corrupt memory, and frees the segment; other errors still throw', () => {
    const box = new Box({ name: uniqueName('box') })
    box.detachError = new CorruptError('Cannot use box: its shared memory is corrupt')
    expect(() => box.close()).not.toThrow()
    expect(box.closed).toBe(true)
    expect(existsSync(`/dev/shm/ipc-${box.name}`)).toBe(false)
    // A bug is not hidden: it throws, after the segment was closed all the same.
    const buggy = new Box({ name: uniqueName('box') })
    buggy.detachError = new TypeError('a bug in detach')
    expect(() => buggy.close()).toThrow(TypeError)
    expect(buggy.closed).toBe(true)
    expect(existsSync(`/dev/shm/ipc-${buggy.name}`)).toBe(false)
  })

  it('keeps a persistent object after its last close, until unlink()', () => {
    const name = uniqueName('box')
    const box = new Box({ name, initial: 7, persistent: true })
    expect(box.persistent).toBe(true)
    box.close()
    expect(existsSync(`/dev/shm/ipc-${name}`)).toBe(true)
    const again = Box.open(name)
    expect([again.persistent, again.word[0]]).toEqual([true, 7])
    again.unlink()
    again.close()
    expect(existsSync(`/dev/shm/ipc-${name}`)).toBe(false)
  })

  it('inspects live fields, closed, corrupt and persistent; transfers by module and class', () => {
    const box = new Box({ initial: 2 })
    expect(inspect(box)).toBe(`Box { name: '${box.name}', value: 2 }`)
    box.broken = true
    expect(inspect(box)).toBe(`Box { name: '${box.name}', corrupt: true }`)
    expect(box[TRANSFER]()).toEqual({ module: import.meta.url, export: 'Box', handle: box.handle })
    box.close()
    expect(inspect(box)).toBe(`Box { name: '${box.name}', closed: true }`)
    const kept = new Box({ initial: 1, persistent: true })
    expect(inspect(kept)).toBe(`Box { name: '${kept.name}', value: 1, persistent: true }`)
    kept.unlink()
    kept.close()
  })

  it('attachTo hands the attachment to exactly one constructor call', () => {
    const box = track(new Box({ initial: 1 }))
    const segment = Segment.open(BOX.segment, box.name)
    const attached = track(attachTo(() => new Box(), BOX, BOX.attach(segment)))
    expect(attached.created).toBe(false)
    // The next constructor creates again: the slot was taken.
    const fresh = track(new Box())
    expect(fresh.created).toBe(true)
    expect(fresh.name).not.toBe(box.name)
  })
})
