/**
 * Runs async operations of one Connection one at a time, in call order (two
 * `recv()` calls must not interleave the chunks of one message). A call that
 * is aborted or times out while it waits for its turn leaves the line at once.
 */
import { afterTimeout, onAbort, remaining } from '@ipc/core/internal'

interface Turn {
  start(): void
}

export class SerialQueue {
  #busy = false
  readonly #line: Turn[] = []

  /** True when nothing runs or waits: a caller may act synchronously. */
  get idle(): boolean {
    return !this.#busy
  }

  /** Runs `fn` after the operations queued before it. */
  async run<T>(
    fn: () => Promise<T>,
    signal: AbortSignal | undefined,
    deadline: number,
    onTimeout: () => Error,
  ): Promise<T> {
    if (this.#busy) await this.#turn(signal, deadline, onTimeout)
    else this.#busy = true
    try {
      return await fn()
    } finally {
      const next = this.#line.shift()
      if (next === undefined) this.#busy = false
      else next.start()
    }
  }

  #turn(signal: AbortSignal | undefined, deadline: number, onTimeout: () => Error): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let cancelTimer = () => {}
      const leave = (error: unknown) => {
        const i = this.#line.indexOf(turn)
        if (i >= 0) this.#line.splice(i, 1)
        cancelTimer()
        removeAbort()
        reject(error)
      }
      const turn: Turn = {
        start() {
          cancelTimer()
          removeAbort()
          resolve()
        },
      }
      const removeAbort = onAbort(signal, () => leave(signal?.reason))
      cancelTimer = afterTimeout(remaining(deadline), () => leave(onTimeout()))
      this.#line.push(turn)
    })
  }
}
