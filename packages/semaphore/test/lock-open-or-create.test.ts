/**
 * `Lock.open(name, { create })` and `RLock.open(name, { create })` under
 * races: processes that open-or-create one name at the same moment all
 * attach to one lock (exactly one created it), so they exclude each other.
 */
import { spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { NotFoundError } from '../src/errors.js'
import { Lock, RLock } from '../src/lock.js'
import { createBoard, GO, MAX_INSIDE, OPS, READY, VIOLATIONS } from './board.js'

const CHILD = new URL('./fixtures/lock-child.mjs', import.meta.url)
const CHILDREN = 6
const ROUNDS = 2000

for (const Class of [Lock, RLock]) {
  const kind = Class === Lock ? 'lock' : 'rlock'

  describe(`${Class.name}.open(name, { create: true }) racing`, () => {
    it(`attaches ${CHILDREN} racing processes to one lock: never two inside, every round counted`, {
      timeout: 60_000,
    }, async () => {
      const name = uniqueName()
      const board = createBoard()
      try {
        const children = Array.from({ length: CHILDREN }, (_, index) =>
          spawnChild(CHILD, ['race', kind, name, board.name, String(index), String(ROUNDS)]),
        )
        const deadline = Date.now() + 20_000
        while (board.get(READY) < CHILDREN && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
        board.set(GO, 1)
        const codes = await Promise.all(children.map((child) => child.exited))
        expect(codes, children.map((child) => child.stderr()).join('\n')).toEqual(new Array(CHILDREN).fill(0))
        for (let i = 0; i < CHILDREN; i++) expect(board.get(OPS + i)).toBe(ROUNDS)
        expect(board.get(MAX_INSIDE)).toBe(1)
        expect(board.get(VIOLATIONS)).toBe(0)
        // Not persistent: gone with its last process.
        expect(() => Class.open(name)).toThrow(NotFoundError)
      } finally {
        board.close()
      }
    })
  })
}
