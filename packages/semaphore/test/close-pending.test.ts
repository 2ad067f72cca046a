/**
 * close() with pending async acquires leaves nothing behind: a process whose
 * only work was those acquires ends by itself (a wait left pending would keep
 * its event loop alive).
 */
import { spawnChild } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'

const CLOSE_PENDING = new URL('./fixtures/close-pending.mjs', import.meta.url)

describe('close() with pending async acquires', () => {
  it('rejects them with ClosedError, the first one without a timeout or signal too, and the process ends', {
    timeout: 30_000,
  }, async () => {
    const child = spawnChild(CLOSE_PENDING)
    const exited = await Promise.race([child.exited, new Promise((resolve) => setTimeout(resolve, 10_000, 'hung'))])
    expect(exited).toBe(0)
    expect(child.stdout()).toContain('CLOSED ClosedError ClosedError')
  })
})
