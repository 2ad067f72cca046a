/**
 * The attach rules every `/redis` primitive shares: its `url` and `lease`
 * options, and how `from(handle)` treats a handle taken while its creator's
 * create was still on its way to the server.
 *
 * Why the wait: `new X({ name })` returns at once and creates on the server
 * in the background (a constructor cannot await), and its first call loads
 * the Redis client and connects. A child that `Process` started right after
 * can reach the server first and find no such name. Such a handle carries
 * `creating: true`, and `from()` of it asks again for up to CREATOR_WAIT_MS
 * before it reports the name missing. A handle without it (taken after the
 * create landed) fails at once, as `open(name)` does.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { invalidArgType, outOfRange } from '../errors.js'
import { defaultRedisUrl, redactUrl } from './connection.js'

/** Default lease (ms): how long an object's claims outlive its last renewal. */
export const DEFAULT_LEASE_MS = 10_000

/** How long `from()` waits for a name its handle says is being created, ms. */
export const CREATOR_WAIT_MS = 5000

/** Validates the `lease` option (ms): an integer from 30 to 3600000, default DEFAULT_LEASE_MS. */
export function checkLease(lease: unknown): number {
  if (lease === undefined) return DEFAULT_LEASE_MS
  if (typeof lease !== 'number') throw invalidArgType(`The "lease" option must be a number, received ${typeof lease}`)
  if (!Number.isInteger(lease) || lease < 30 || lease > 3_600_000)
    throw outOfRange(`The "lease" option must be an integer from 30 to 3600000 ms, received ${lease}`)
  return lease
}

/** Validates the `url` option: redis:// or rediss://, default `defaultRedisUrl()`. */
export function checkUrl(url: unknown): string {
  if (url === undefined) return defaultRedisUrl()
  if (typeof url !== 'string') throw invalidArgType(`The "url" option must be a string, received ${typeof url}`)
  if (!/^rediss?:\/\//.test(url))
    throw invalidArgType(`The "url" option must start with redis:// or rediss://, received ${redactUrl(url)}`)
  return url
}

/**
 * Runs `ask` (an attach call) and, when `awaitCreator` (the handle said
 * `creating: true`) and the reply says the name is `missing`, asks again
 * (5 ms doubling to 100 ms between tries) for up to CREATOR_WAIT_MS.
 * Returns the last reply.
 */
export async function attachReply<R>(
  ask: () => Promise<R>,
  missing: (reply: R) => boolean,
  awaitCreator: boolean,
): Promise<R> {
  let reply = await ask()
  if (!awaitCreator || !missing(reply)) return reply
  const deadline = Date.now() + CREATOR_WAIT_MS
  for (let nap = 5; missing(reply) && Date.now() < deadline; nap = Math.min(nap * 2, 100)) {
    await sleep(Math.min(nap, Math.max(1, deadline - Date.now())))
    reply = await ask()
  }
  return reply
}
