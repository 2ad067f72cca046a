/**
 * Segment.openOrCreate is atomic across racing processes (exactly one
 * creates, all attach to that one), and a persistent segment outlives its
 * processes (normal exit, SIGKILL, the cleanup scan) until unlink().
 */
import { spawnSync } from 'node:child_process'
import { existsSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { IncompatibleError, NotFoundError } from '@ipc/core'
import { reclaimDeadSegments, Segment, selfIdentity } from '@ipc/core/internal'
import { spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'

const KIND = { kind: 'test-ooc', version: 1 }
const racer = new URL('./fixtures/open-or-create.mjs', import.meta.url)

function exists(name: string): boolean {
  return existsSync(`/dev/shm/ipc-${name}`)
}

function unlinkAtEnd(name: string): void {
  onTestFinished(() => {
    try {
      const s = Segment.open(KIND, name)
      s.unlink()
      s.close()
    } catch {}
  })
}

describe('Segment.openOrCreate()', () => {
  it('of 8 processes racing on one name, exactly one creates and all attach to its segment', {
    timeout: 30_000,
  }, async () => {
    const name = uniqueName('race')
    unlinkAtEnd(name)
    const startAt = String(Date.now() + 1500)
    const racers = Array.from({ length: 8 }, () => spawnChild(racer, [name, startAt, '8']))
    const codes = await Promise.all(racers.map((r) => r.exited))
    expect(codes).toEqual(Array(8).fill(0))
    const reports = racers.map((r) => JSON.parse(r.stdout().trim()) as { created: boolean; init: number })
    expect(reports.filter((r) => r.created)).toHaveLength(1)
    // Every racer saw the creator's init: none attached to a second, uninitialised segment.
    expect(reports.every((r) => r.init === 42)).toBe(true)
    expect(exists(name)).toBe(false) // the last close removed it
  })

  it('opens an existing segment without running init, and refuses another kind', () => {
    const name = uniqueName('ooc')
    const first = Segment.openOrCreate(KIND, name, 64, { init: (s) => Atomics.store(s.i32, s.dataOffset / 4, 7) })
    onTestFinished(() => first.segment.close())
    expect(first.created).toBe(true)
    const second = Segment.openOrCreate(KIND, name, 4096, { init: () => expect.unreachable('init ran twice') })
    onTestFinished(() => second.segment.close())
    expect(second.created).toBe(false)
    expect(second.segment.dataBytes).toBe(first.segment.dataBytes)
    expect(Atomics.load(second.segment.i32, second.segment.dataOffset / 4)).toBe(7)
    expect(() => Segment.openOrCreate({ kind: 'other', version: 1 }, name, 64)).toThrow(IncompatibleError)
  })
})

describe('Segment.openOrCreate() against creators and closers', () => {
  // In about one full CI run of three, one round of thousands found the name gone (ENOENT) while
  // its racer was attached: a creator preempted between the two words of its boot id was judged
  // dead by the scans, which unlinked its new segment's name (the next test shows that state).
  it('two processes opening-or-creating and closing one name for 1.5 s never see an error, nor a name that a closer unlinked under them (a third scans meanwhile)', {
    timeout: 30_000,
  }, async () => {
    const name = uniqueName('churn')
    unlinkAtEnd(name)
    const loops = [0, 1].map((id) => spawnChild(racer, [name, 'loop', '1500', String(id)]))
    // Another process's creates and opens run the cleanup scan over this name as it churns.
    const scanner = spawnChild(racer, [name, 'scan', '1500'])
    expect(await Promise.all([...loops, scanner].map((l) => l.exited))).toEqual([0, 0, 0])
    expect((JSON.parse(scanner.stdout().trim()) as { scans: number }).scans).toBeGreaterThan(10)
    for (const l of loops) {
      const report = JSON.parse(l.stdout().trim()) as { rounds: number; errors: Record<string, number> }
      expect(report.rounds).toBeGreaterThan(100)
      expect(report.errors).toEqual({})
    }
  })

  it('with a dead holder in each segment (the scans judge it dead between rounds), two processes opening-or-creating and closing one name never see it removed under them by a scan', {
    timeout: 30_000,
  }, async () => {
    const name = uniqueName('churn-dead')
    unlinkAtEnd(name)
    // A process that has exited: its pid, written as a holder that died without closing.
    const deadPid = String(spawnSync('true').pid)
    const loops = [0, 1].map((id) => spawnChild(racer, [name, 'loop', '2000', String(id), deadPid]))
    // The scan used to unlink a name on the word of its reads: an opener that attached after them
    // was left on a removed name (and the next open made a second segment), in every run of this test.
    const scanners = [0, 1].map(() => spawnChild(racer, [name, 'scan', '2000', 'low']))
    expect(await Promise.all([...loops, ...scanners].map((l) => l.exited))).toEqual([0, 0, 0, 0])
    // The scanners ran (even at the lowest priority), as did the racers' own scans (every open and create).
    for (const s of scanners) expect((JSON.parse(s.stdout().trim()) as { scans: number }).scans).toBeGreaterThan(0)
    for (const l of loops) {
      const report = JSON.parse(l.stdout().trim()) as { rounds: number; errors: Record<string, number> }
      expect(report.rounds).toBeGreaterThan(100)
      expect(report.errors).toEqual({})
    }
  })

  // Needs this machine's boot id (its first half alone must differ from the whole).
  it.runIf(selfIdentity().bootId[1] !== 0)(
    'the scan keeps the name of a live creator caught between the two words of its boot id; once that creator is dead, it removes it',
    () => {
      const name = uniqueName('half-boot')
      const path = `/dev/shm/ipc-${name}`
      onTestFinished(() => rmSync(path, { force: true }))
      const me = selfIdentity()
      // What a creator leaves when it is preempted there: the native create's mark 'IPCi' (state 0,
      // every slot 0), then slot 0 claimed in transition (pid < 0), its namespace and the first half
      // of its boot id stored, the second half still the fresh file's 0.
      const SLOT0 = 64
      const file = Buffer.alloc(4160 + 8)
      file.writeInt32LE(0x69435049, 0)
      file.writeInt32LE(-process.pid, SLOT0)
      file.writeUInt32LE(me.pidNamespace, SLOT0 + 16)
      file.writeInt32LE(me.bootId[0], SLOT0 + 24)
      writeFileSync(path, file, { mode: 0o600 })
      // Each call examines a bounded number of names: enough calls cover them all.
      for (let i = 0; i < 64; i++) reclaimDeadSegments()
      // Before, half a boot id read as another boot's: every scan removed the name of the live creator.
      expect(exists(name)).toBe(true)
      // The same record, whole, of a process that has exited: the scan does look at this file.
      file.writeInt32LE(-(spawnSync('true').pid as number), SLOT0)
      file.writeInt32LE(me.bootId[1], SLOT0 + 28)
      writeFileSync(path, file)
      for (let i = 0; i < 64 && exists(name); i++) reclaimDeadSegments()
      expect(exists(name)).toBe(false)
    },
  )

  it('the scan removes a stale file of a creator killed inside the native create; an unmarked empty file stays', () => {
    const killed = uniqueName('killed-create')
    const empty = uniqueName('empty')
    const magic = Buffer.alloc(4)
    magic.writeInt32LE(0x69435049) // 'IPCi', written before the file gets its size
    const hourAgo = new Date(Date.now() - 3_600_000)
    for (const [name, bytes] of [
      [killed, magic],
      [empty, Buffer.alloc(0)],
    ] as const) {
      writeFileSync(`/dev/shm/ipc-${name}`, bytes, { mode: 0o600 })
      utimesSync(`/dev/shm/ipc-${name}`, hourAgo, hourAgo)
    }
    onTestFinished(() => rmSync(`/dev/shm/ipc-${empty}`, { force: true }))
    onTestFinished(() => rmSync(`/dev/shm/ipc-${killed}`, { force: true }))
    // Each call examines a bounded number of names: enough calls cover them all.
    for (let i = 0; i < 64 && exists(killed); i++) reclaimDeadSegments()
    expect(exists(killed)).toBe(false)
    expect(exists(empty)).toBe(true)
    // The name works again.
    const { segment, created } = Segment.openOrCreate(KIND, killed, 8)
    expect(created).toBe(true)
    segment.close()
  })
})

describe('a last closer killed while it decides to unlink (its life word left behind)', () => {
  // Header word 15 is `life`: bits 0-1 the phase (0 OPEN, 1 CLOSING, 2 GONE,
  // 3 UNLINKED), the rest an epoch. A closer SIGKILLed between two of its
  // stores leaves one of these phases; storing it here puts the segment in
  // the state that kill would leave.
  const LIFE = 15

  it('CLOSING: the next opener reopens the segment (next epoch) and stays attached', () => {
    const first = Segment.create(KIND, 8, { name: uniqueName('closing') })
    onTestFinished(() => first.close())
    Atomics.store(first.i32, LIFE, 1)
    const second = Segment.open(KIND, first.name)
    expect(Atomics.load(second.i32, LIFE)).toBe(4) // OPEN, epoch 1
    first.close()
    expect(exists(second.name)).toBe(true) // second is attached: the name stays
    second.close()
    expect(exists(second.name)).toBe(false)
  })

  it('GONE with its name still there: an opener waits for the unlink, then removes the name itself', () => {
    const first = Segment.create(KIND, 8, { name: uniqueName('gone') })
    onTestFinished(() => first.close())
    Atomics.store(first.i32, LIFE, 2)
    const started = performance.now()
    expect(() => Segment.open(KIND, first.name)).toThrow(NotFoundError)
    expect(performance.now() - started).toBeGreaterThan(1500)
    expect(exists(first.name)).toBe(false)
    // The name works again.
    const { created, segment } = Segment.openOrCreate(KIND, first.name, 8)
    expect(created).toBe(true)
    segment.close()
  })

  /** A segment with a holder that died without closing, this object detached, and its life word at `phase`. */
  function deadWithLife(phase: number): string {
    const first = Segment.create(KIND, 8, { name: uniqueName('dead-life') })
    const me = (64 + first.slot * 32) / 4
    const dead = (64 + 5 * 32) / 4
    for (let i = 1; i < 8; i++) first.i32[dead + i] = first.i32[me + i] as number
    Atomics.store(first.i32, dead, spawnSync('true').pid as number)
    Atomics.store(first.i32, LIFE, phase)
    first.close() // finds the decision made: leaves the name
    onTestFinished(() => rmSync(`/dev/shm/ipc-${first.name}`, { force: true }))
    expect(exists(first.name)).toBe(true)
    return first.name
  }

  it('UNLINKED with its name still there and a dead holder: the scan removes it', () => {
    const name = deadWithLife(3)
    for (let i = 0; i < 64 && exists(name); i++) reclaimDeadSegments()
    expect(exists(name)).toBe(false)
  })

  it('GONE with a dead holder: the scan leaves it for 2 s to its decider, then removes it', {
    timeout: 10_000,
  }, async () => {
    const name = deadWithLife(2)
    for (let i = 0; i < 64; i++) reclaimDeadSegments()
    expect(exists(name)).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    for (let i = 0; i < 64; i++) reclaimDeadSegments()
    expect(exists(name)).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 1100))
    for (let i = 0; i < 64 && exists(name); i++) reclaimDeadSegments()
    expect(exists(name)).toBe(false)
  })
})

describe('last closes and failed creators', () => {
  const LIFE = 15

  it('a closer that finds CLOSING (a closer killed mid-decision) takes the decision over and removes the name', () => {
    const first = Segment.create(KIND, 8, { name: uniqueName('takeover') })
    const second = Segment.open(KIND, first.name)
    Atomics.store(first.i32, LIFE, 1) // a third closer died while CLOSING
    first.close() // second is alive: the name stays
    expect(exists(second.name)).toBe(true)
    second.close() // the last one: reopens the stale decision, then removes the name
    expect(exists(second.name)).toBe(false)
  })

  it('an open waiting for a creator whose init throws reports the name missing at once, not after 2 s', {
    timeout: 20_000,
  }, async () => {
    const name = uniqueName('init-throws')
    unlinkAtEnd(name)
    const creator = spawnChild(racer, [name, 'init-throws'])
    while (!exists(name)) await new Promise((r) => setTimeout(r, 5))
    const started = performance.now()
    let error: unknown
    for (;;) {
      try {
        Segment.open(KIND, name).close()
      } catch (caught) {
        error = caught
        break
      }
    }
    expect(error).toBeInstanceOf(NotFoundError)
    expect(performance.now() - started).toBeLessThan(1500)
    expect(await creator.exited).toBe(0)
  })
})

describe('persistent segments', () => {
  it('outlive a normal exit, a SIGKILL and the cleanup scan, until unlink()', { timeout: 30_000 }, async () => {
    const name = uniqueName('persist')
    unlinkAtEnd(name)
    // A normal exit: the racer closes its (only) attachment.
    const one = spawnChild(racer, [name, '0', '1', 'persistent'])
    expect(await one.exited).toBe(0)
    expect(JSON.parse(one.stdout().trim())).toMatchObject({ created: true, persistent: true })
    expect(exists(name)).toBe(true)
    // A SIGKILLed attacher: its slot is dead, the segment stays.
    const holder = spawnChild(racer, [name, 'hold'])
    await holder.waitFor('READY')
    holder.child.kill('SIGKILL')
    expect(await holder.exited).toBe(-9)
    reclaimDeadSegments()
    Segment.create(KIND, 8).close() // a create runs the scan too
    expect(exists(name)).toBe(true)
    const again = Segment.open(KIND, name)
    expect(again.persistent).toBe(true)
    expect(Atomics.load(again.i32, again.dataOffset / 4)).toBe(42)
    again.close()
    expect(exists(name)).toBe(true)
    const last = Segment.open(KIND, name)
    last.unlink()
    last.close()
    expect(exists(name)).toBe(false)
  })

  it('a non-persistent segment is still removed by its last close', () => {
    const { segment } = Segment.openOrCreate(KIND, uniqueName('plain'), 8)
    expect(segment.persistent).toBe(false)
    const name = segment.name
    segment.close()
    expect(exists(name)).toBe(false)
  })
})
