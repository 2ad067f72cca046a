import { describe, expect, it } from 'vitest'
import { attachReply, CREATOR_WAIT_MS, checkLease, checkUrl, DEFAULT_LEASE_MS } from './attach.js'

describe('the url and lease options', () => {
  it('default to IPC_REDIS_URL (or the local server) and 10 s', () => {
    expect(checkLease(undefined)).toBe(DEFAULT_LEASE_MS)
    expect(DEFAULT_LEASE_MS).toBe(10_000)
    expect(checkUrl(undefined)).toBe(process.env.IPC_REDIS_URL ?? 'redis://127.0.0.1:6379')
  })

  it('reject a lease outside 30 ms to 1 hour and a url that is not redis:// or rediss://', () => {
    expect(() => checkLease(29)).toThrow(RangeError)
    expect(() => checkLease(1.5)).toThrow(RangeError)
    expect(() => checkLease('100')).toThrow(TypeError)
    expect(checkLease(30)).toBe(30)
    expect(() => checkUrl('http://x')).toThrow(TypeError)
    expect(() => checkUrl('http://user:secret@x')).toThrow(/^(?!.*secret)/)
    expect(checkUrl('rediss://host:6380/2')).toBe('rediss://host:6380/2')
  })
})

describe('attachReply()', () => {
  it('asks once when the handle was not taken while creating, even if the name is missing', async () => {
    let asked = 0
    const reply = await attachReply(
      async () => ++asked && 'missing',
      (r) => r === 'missing',
      false,
    )
    expect(reply).toBe('missing')
    expect(asked).toBe(1)
  })

  it('asks again until the name appears when the handle says creating', async () => {
    let asked = 0
    const reply = await attachReply(
      async () => (++asked < 4 ? 'missing' : 'opened'),
      (r) => r === 'missing',
      true,
    )
    expect(reply).toBe('opened')
    expect(asked).toBe(4)
  })

  it('gives up after CREATOR_WAIT_MS with the last reply', { timeout: CREATOR_WAIT_MS + 5000 }, async () => {
    const started = performance.now()
    const reply = await attachReply(
      async () => 'missing',
      (r) => r === 'missing',
      true,
    )
    expect(reply).toBe('missing')
    expect(performance.now() - started).toBeGreaterThanOrEqual(CREATOR_WAIT_MS - 50)
  })
})
