/**
 * `X.open(name, { create })` racing across processes: exactly one creates,
 * all attach to the same object.
 */
import { existsSync } from 'node:fs'
import { Event } from '@ipc/sync'
import { spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'

const OPEN_EVENT = new URL('./fixtures/open-event.mjs', import.meta.url)
const PARTY = new URL('./fixtures/barrier-party.mjs', import.meta.url)
const CHILDREN = 6

describe('open(name, { create }) racing', () => {
  it(`Event: exactly one of ${CHILDREN} racing processes creates, and one set() wakes them all`, {
    timeout: 60_000,
  }, async () => {
    const name = uniqueName('race')
    const children = Array.from({ length: CHILDREN }, () => spawnChild(OPEN_EVENT, [name]))
    await Promise.all(children.map((child) => child.waitFor('armed', 30_000)))
    const startAt = Date.now() + 100
    for (const child of children) child.child.send({ startAt })
    await Promise.all(children.map((child) => child.waitFor('}', 30_000)))
    const created = children.filter((child) => child.stdout().includes('"created":true'))
    expect(created).toHaveLength(1)
    const event = Event.open(name)
    event.set()
    await Promise.all(children.map((child) => child.waitFor('set', 10_000)))
    expect(await Promise.all(children.map((child) => child.exited))).toEqual(children.map(() => 0))
    event.close()
    expect(existsSync(`/dev/shm/ipc-${name}`)).toBe(false)
  })

  it(`Barrier: ${CHILDREN} racing processes open one barrier of ${CHILDREN} parties and pass it together`, {
    timeout: 60_000,
  }, async () => {
    const name = uniqueName('race')
    const children = Array.from({ length: CHILDREN }, () => spawnChild(PARTY, [name, '3', 'open', String(CHILDREN)]))
    await Promise.all(children.map((child) => child.waitFor('ready', 30_000)))
    expect(children.filter((child) => child.stdout().includes('created true'))).toHaveLength(1)
    for (const child of children) child.child.send('go')
    await Promise.all(children.map((child) => child.waitFor('}', 30_000)))
    const indexes = children.map((child) =>
      JSON.parse(
        child
          .stdout()
          .split('\n')
          .find((l) => l.startsWith('{')) ?? '{}',
      ),
    )
    for (let g = 0; g < 3; g++)
      expect(indexes.map((r) => r.indexes[g]).sort()).toEqual(Array.from({ length: CHILDREN }, (_, i) => i))
    expect(await Promise.all(children.map((child) => child.exited))).toEqual(children.map(() => 0))
    expect(existsSync(`/dev/shm/ipc-${name}`)).toBe(false)
  })
})
