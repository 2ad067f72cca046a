/**
 * How long the Redis layer gives a server before it says the server cannot
 * be reached, ms. One object, read where a limit starts: each connect reads
 * `connect`, each object reads `reply` when it is made. The hostile-server
 * tests shorten the limits (`shortenRedisLimits`), which would otherwise cost
 * each of them 5 s of waiting. Nothing else writes it, and it is not
 * exported from a package entry.
 */
export const redisLimits = {
  /**
   * Connecting both sockets (TCP connect, handshake, SUBSCRIBE; the
   * client's load not counted) before every call waiting for it fails with
   * ConnectionError; on a cluster, also a look's new wake-up socket until
   * it is subscribed.
   */
  connect: 5000,
  /**
   * The least time a kind whose calls wait (`replyWithinLease` false) gives
   * the server to answer a call, its attach's included (its lease when
   * longer): enough for a first call that also loads the library.
   */
  reply: 5000,
}

/**
 * For tests only (@internal: not part of the API, may change in any
 * release): sets both limits to `ms` and returns what puts them back. A
 * test file returns it from `beforeAll`, which runs that after the last test;
 * objects made meanwhile keep the short reply limit.
 */
export function shortenRedisLimits(ms: number): () => void {
  const saved = { ...redisLimits }
  redisLimits.connect = ms
  redisLimits.reply = ms
  return () => Object.assign(redisLimits, saved)
}
