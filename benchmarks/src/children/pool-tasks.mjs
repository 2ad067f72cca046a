// The tasks every pool implementation runs (ours, piscina, tinypool: named exports of this
// module; workerpool and the fork round-robin wrap the same functions).

/** A tiny task: returns its argument. */
export function identity(x) {
  return x
}

/** A CPU task: spins for 1 ms of wall time (no sleeping), then returns its argument. */
export function spin1ms(x) {
  const end = process.hrtime.bigint() + 1_000_000n
  while (process.hrtime.bigint() < end) {}
  return x
}
