/**
 * `@ipc/queue` without `/redis` loads nothing of Redis: a user who never
 * imports the subpath needs no `@redis/client` (the tarball test installs it
 * without, see scripts/pack-smoke.mjs).
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

describe('the main entry', () => {
  it.each(['index.js', 'index.cjs'])('dist/%s imports neither @redis/client nor @ipc/core/redis', (file) => {
    const code = readFileSync(new URL(`../dist/${file}`, import.meta.url), 'utf8')
    expect(code).not.toMatch(/@redis\/client|@ipc\/core\/redis/)
  })
})
