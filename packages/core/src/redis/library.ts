/**
 * RedisLibrary: server-side code as a Redis Functions library (Redis 7+).
 * Functions survive a server restart with persistence and a failover (they
 * are replicated), unlike EVALSHA scripts; `RedisConnection.call` loads the
 * library on first use and again when the server answers "Function not
 * found" (a restarted server without persistence).
 *
 * Versions: a library is `ipc_v<version>_<family>` and each of its functions
 * `ipc_v<version>_<family>_<fn>` (`ipc_v3_queue_put`). Redis keeps function
 * names unique across libraries, and FUNCTION LOAD REPLACE replaces a
 * library by name, so two versions of @ipc on one server each load their own
 * library and call their own functions: an old client never runs new code
 * nor the other way round. A library whose code changes gets a new version
 * (two copies of one version must hold the same code, since each replaces
 * the other on load). The Lua body registers its functions with
 * `register('<fn>', function(keys, args) … end)`, which adds the prefix; the
 * client names them by `<fn>` too (`connection.call(library, 'put', …)`).
 *
 * Rules every library follows (they make Redis Cluster work and leases fair):
 * - Every key a function touches is passed in KEYS, and all keys of one
 *   primitive share one hash slot (`{name}` in `redisKey`).
 * - Time is the server's: `ipc_now()` reads TIME inside the function, so
 *   leases do not depend on the clients' clocks.
 * - A waiter id read back from a key is checked with `ipc_waiter_ok` before
 *   anything is written or published for it: another program may have
 *   written it.
 */
import { WAKE_CHANNEL_PREFIX } from './connection.js'

/**
 * Lua shared by every library: the server clock in milliseconds, and the
 * form of the waiter ids that `RedisObject#newWaiterId` makes
 * ('<clientId>/<object>/<n>') with the wake-up channel of its process.
 */
export const LUA_PRELUDE = `
local function ipc_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Whether w is a waiter id as clients make them: three parts, none empty, no '/' or '|' inside.
local function ipc_waiter_ok(w) return string.match(w, '^[^/|]+/[^/|]+/[^/|]+$') ~= nil end
-- The wake-up channel of waiter w's process (w passed ipc_waiter_ok).
local function ipc_channel_of(w) return '${WAKE_CHANNEL_PREFIX}' .. string.match(w, '^([^/]+)/') end
`

/** A library of Redis Functions: its versioned name, its source, and the names of its functions. */
export interface RedisLibrary {
  /** The library name, including its version (`ipc_v3_queue`): a changed library gets a new version. */
  readonly name: string
  /** The full source, starting with the `#!lua name=…` shebang. */
  readonly code: string
  /** The server's name of function `fn` of this library (`put` → `ipc_v3_queue_put`). */
  functionName(fn: string): string
}

/**
 * Defines version `version` of library `family`: `body` is Lua that
 * registers its functions with `register('<fn>', function(keys, args) … end)`;
 * `LUA_PRELUDE` and `register` are put before it.
 * @throws {TypeError} `family` is not made of `[a-z0-9]` (with `_` inside), or `version` is not a positive integer.
 */
export function defineLibrary(family: string, version: number, body: string): RedisLibrary {
  if (!/^[a-z0-9]+(_[a-z0-9]+)*$/.test(family))
    throw new TypeError(`A library family must match [a-z0-9]+(_[a-z0-9]+)*, received ${family}`)
  if (!Number.isSafeInteger(version) || version < 1)
    throw new TypeError(`A library version must be a positive integer, received ${version}`)
  const name = `ipc_v${version}_${family}`
  const prefix = `${name}_`
  const register = `local function register(fn, body) redis.register_function('${prefix}' .. fn, body) end\n`
  return {
    name,
    code: `#!lua name=${name}\n${LUA_PRELUDE}\n${register}${body}`,
    functionName: (fn) => prefix + fn,
  }
}
