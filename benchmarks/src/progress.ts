import type { Job, Progress } from './harness.ts'

/** The progress of one job, as `measure()` reports it. */
export interface JobProgress extends Progress {
  done(summary: string): void
}

/**
 * The progress line on stderr. On a terminal it is rewritten in place; otherwise (CI,
 * a pipe) one line is printed per finished job.
 */
export class ProgressLine {
  readonly #tty = Boolean(process.stderr.isTTY)
  readonly #started = Date.now()
  readonly #total: number
  #startedJobs = 0
  #finished = 0

  constructor(total: number) {
    this.#total = total
  }

  start(job: Job): JobProgress {
    this.#startedJobs += 1
    const label = `${job.workload} · ${job.impl}`
    this.#show(`${label} · starting`)
    return {
      phase: (text) => this.#show(`${label} · ${text}`),
      done: (summary) => {
        this.#finished += 1
        const line = `${this.#prefix()} ${label}: ${summary}`
        if (this.#tty) this.#write(line)
        else process.stderr.write(`${line}\n`)
      },
    }
  }

  finish(): void {
    if (this.#tty) process.stderr.write('\r\x1b[K')
  }

  #show(text: string): void {
    if (this.#tty) this.#write(`${this.#prefix()} ${text}`)
  }

  #write(line: string): void {
    process.stderr.write(`\r\x1b[K${line.slice(0, (process.stderr.columns ?? 120) - 1)}`)
  }

  #prefix(): string {
    const seconds = Math.round((Date.now() - this.#started) / 1000)
    const clock = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`
    return `[bench ${this.#finished}/${this.#total} ${clock}]`
  }
}
