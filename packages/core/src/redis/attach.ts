/**
 * The attach rules every `/redis` primitive shares: validating its `url` and
 * `lease` options, random names, passing an `open()`/`from()` spec to a
 * constructor (`attachWith`/`takePending`), and how `from(handle)` treats a
 * handle taken while its creator's create was still on its way to the server.
 *
 * Why that wait: `new X({ name })` returns at once and creates on the server
 * in the background (a constructor cannot await), and its first call loads
 * the Redis client and connects. A child that `Process` started right after
 * can reach the server first and find no such name. Such a handle carries
 * `creating: true`, and `from()` of it asks again for up to CREATOR_WAIT_MS
 * before it reports the name missing. A handle without it (taken after the
 * create landed) fails at once, as `open(name)` does.
 */
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { CorruptError, ExistsError, IncompatibleError, invalidArgType, NotFoundError, outOfRange } from '../errors.js'
import { optionNames } from '../option-names.js'
import { defaultRedisUrl, redactUrl } from './connection.js'
import { checkRedisName } from './keys.js'
import type { RedisAttachSpec } from './redis-object.js'

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

/** The names of every Redis class's `open(name, options)` options: the connection's, and `create`. */
export const REDIS_OPEN_OPTIONS = optionNames<{ url?: unknown; lease?: unknown; create?: unknown }>({
  url: true,
  lease: true,
  create: true,
})

/**
 * The fields every attach spec has, validated in this order: `name`
 * (undefined: a random one), `url`, `lease`.
 */
export function attachSpec(
  mode: RedisAttachSpec['mode'],
  name: unknown,
  options: { url?: unknown; lease?: unknown } | undefined,
): RedisAttachSpec {
  return {
    mode,
    name: name === undefined ? randomRedisName() : checkRedisName(name),
    url: checkUrl(options?.url),
    lease: checkLease(options?.lease),
  }
}

/** Set by `attachWith` for the constructor it calls (no await in between). */
let pending: unknown

/**
 * Runs `make` with `spec()` as the pending attach (the constructor takes it
 * with `takePending()`), and waits until the object is attached. The spec is
 * made here, so what its checks throw rejects the promise (callers need no
 * try/catch of their own).
 */
export async function attachWith<T extends { ready(): Promise<unknown> }>(
  spec: () => unknown,
  make: () => T,
): Promise<T> {
  pending = spec()
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

/**
 * The error a create function's failed status stands for (one wording for
 * every `/redis` primitive), or undefined for any other status. `label` names
 * the kind ('semaphore'), `detail` is the reply's second field (the kind
 * found, or what broke the layout).
 */
export function attachFailure(status: unknown, detail: unknown, label: string, name: string): Error | undefined {
  const what = `${label} "${name}"`
  switch (status) {
    case 'missing':
      return new NotFoundError(`Cannot open ${what}: no object with that name exists on the server`)
    case 'exists':
      return new ExistsError(`Cannot create ${what}: the name is taken on the server`)
    case 'incompatible':
      return new IncompatibleError(`Cannot open ${what}: it is a ${String(detail)} on the server, not a ${label}`)
    case 'corrupt':
      return new CorruptError(
        `Cannot open ${what}: its state on the server breaks its layout's rules (${String(detail)})`,
      )
    default:
      return undefined
  }
}
