/**
 * The attach rules every `/redis` primitive shares: validating `url` and
 * `lease`, random names, passing an `open()`/`from()` spec to a constructor,
 * and the creator wait of `from()` (a handle taken before its creator's
 * create reached the server says `creating: true`; `from()` of it waits up to
 * CREATOR_WAIT_MS for the name instead of reporting it missing at once).
 */
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { invalidArgType, outOfRange } from '../errors.js'
import { defaultRedisUrl, redactUrl } from './connection.js'

/** Default lease, ms: how long a primitive's server state outlives its holder's last renewal. */
export const DEFAULT_LEASE_MS = 10_000

/**
 * How long `from()` waits for a name its handle says is being created. The
 * creator's first call loads the Redis client and connects, so a child it
 * started at once can reach the server first.
 */
export const CREATOR_WAIT_MS = 5000

/** Validates `lease` (ms, 30 to 3600000; undefined: DEFAULT_LEASE_MS). */
export function checkLease(lease: unknown): number {
  if (lease === undefined) return DEFAULT_LEASE_MS
  if (typeof lease !== 'number') throw invalidArgType(`The "lease" option must be a number, received ${typeof lease}`)
  if (!Number.isInteger(lease) || lease < 30 || lease > 3_600_000)
    throw outOfRange(`The "lease" option must be an integer from 30 to 3600000 ms, received ${lease}`)
  return lease
}

/** Validates `url` (undefined: `defaultRedisUrl()`). */
export function checkUrl(url: unknown): string {
  if (url === undefined) return defaultRedisUrl()
  if (typeof url !== 'string') throw invalidArgType(`The "url" option must be a string, received ${typeof url}`)
  if (!/^rediss?:\/\//.test(url))
    throw invalidArgType(`The "url" option must start with redis:// or rediss://, received ${redactUrl(url)}`)
  return url
}

/** A random, unguessable name. */
export function randomRedisName(): string {
  return randomBytes(12).toString('base64url')
}

/** Set by `attachWith` for the constructor it calls (no await in between). */
let pending: unknown

/**
 * Runs `make` with `spec` as the pending attach (the constructor takes it
 * with `takePending()`), and waits until the object is attached.
 */
export async function attachWith<T extends { ready(): Promise<unknown> }>(spec: unknown, make: () => T): Promise<T> {
  pending = spec
  let object: T
  try {
    object = make()
  } finally {
    pending = undefined
  }
  await object.ready()
  return object
}

/** The pending attach spec of `open()`/`from()`, once (undefined for `new`). */
export function takePending<Spec>(): Spec | undefined {
  const spec = pending as Spec | undefined
  pending = undefined
  return spec
}

/**
 * Runs `create` (a create function's call, whose reply starts with a
 * status) and, when `awaitCreator` is set and the reply is `'missing'`,
 * again with growing naps until the name appears or CREATOR_WAIT_MS pass.
 */
export async function createOrAwaitCreator(
  create: () => Promise<unknown[]>,
  awaitCreator: boolean,
): Promise<unknown[]> {
  let reply = await create()
  if (!awaitCreator || reply[0] !== 'missing') return reply
  const deadline = Date.now() + CREATOR_WAIT_MS
  for (let nap = 5; reply[0] === 'missing' && Date.now() < deadline; nap = Math.min(nap * 2, 100)) {
    await sleep(Math.min(nap, Math.max(1, deadline - Date.now())))
    reply = await create()
  }
  return reply
}
