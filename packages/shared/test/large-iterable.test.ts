/**
 * A SharedArray made from an iterable reads it into a typed array of its own
 * type (at most twice its bytes), not a JS array of numbers (about 9 to 16
 * bytes a value, twice over): 60 million uint8 values fit a 256 MB heap.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const FIXTURE = fileURLToPath(new URL('./fixtures/large-iterable.mjs', import.meta.url))

describe('new SharedArray(type, iterable)', () => {
  it('makes an array of 60 million values from a generator within a 256 MB heap', { timeout: 60_000 }, () => {
    const count = 60_000_000
    const run = spawnSync(process.execPath, ['--max-old-space-size=256', FIXTURE, String(count)], {
      encoding: 'utf8',
      timeout: 50_000,
    })
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    expect(run.stdout).toBe(`${count} ${(count - 1) & 0xff}\n`)
  })
})
