/**
 * @ipc/core/redis: the plumbing of the `/redis` subpaths (@ipc/semaphore/redis,
 * @ipc/queue/redis, @ipc/shared/redis): one connection pair per server and
 * process, Redis Functions libraries, key naming, server-clock leases, and
 * `RedisObject`, the shell every `/redis` class is built on. For @ipc
 * packages only; covered by semver like the rest of @ipc/core. Loads the
 * optional peer dependency `@redis/client` on first use.
 */

export {
  attachFailure,
  attachReply,
  attachSpec,
  attachWith,
  CREATOR_WAIT_MS,
  checkLease,
  checkUrl,
  DEFAULT_LEASE_MS,
  REDIS_OPEN_OPTIONS,
  randomRedisName,
  takePending,
} from './attach.js'
export {
  type CallOptions,
  defaultRedisUrl,
  type LateReply,
  NO_REPLY,
  RedisConnection,
  redactUrl,
} from './connection.js'
export { checkRedisName, MAX_REDIS_NAME_BYTES, redisKey } from './keys.js'
export { defineLibrary, LUA_PRELUDE, type RedisLibrary } from './library.js'
export { shortenRedisLimits } from './limits.js'
export {
  type RedisAttachSpec,
  type RedisCallOptions,
  type RedisHandle,
  RedisObject,
  type RedisObjectKind,
} from './redis-object.js'
export { replyArray, replyFlag, unexpectedReply } from './reply.js'
