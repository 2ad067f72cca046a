/**
 * RedisLibrary: server-side code as a Redis Functions library (Redis 7+).
 * Functions survive a server restart with persistence and a failover (they
 * are replicated), unlike EVALSHA scripts; `RedisConnection.call` loads the
 * library on first use and again when the server answers "Function not
 * found" (a restarted server without persistence).
 *
 * Rules every library follows (they make Redis Cluster work and leases fair):
 * - Every key a function touches is passed in KEYS, and all keys of one
 *   primitive share one hash slot (`{name}` in `redisKey`).
 * - Time is the server's: `ipc_now()` reads TIME inside the function, so
 *   leases do not depend on the clients' clocks.
 */

/** Lua shared by every library: the server clock in milliseconds. */
export const LUA_PRELUDE = `
local function ipc_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

/** A library of Redis Functions: its name (with its version) and its source. */
export interface RedisLibrary {
  /** The library name, including its version (`ipc_semaphore_1`): a changed library gets a new name. */
  readonly name: string
  /** The full source, starting with the `#!lua name=…` shebang. */
  readonly code: string
}

/**
 * Defines a library: `body` is Lua that registers its functions with
 * `redis.register_function`; `LUA_PRELUDE` is put before it.
 */
export function defineLibrary(name: string, body: string): RedisLibrary {
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new TypeError(`A library name must match [A-Za-z0-9_]+, received ${name}`)
  return { name, code: `#!lua name=${name}\n${LUA_PRELUDE}\n${body}` }
}
