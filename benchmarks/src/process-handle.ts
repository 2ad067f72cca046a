import { AsyncLocalStorage } from 'node:async_hooks'
import { type ChildProcess, fork, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

/**
 * A benchmark child: a Node script forked with an IPC channel, or a Python script that
 * speaks JSON lines on stdin/stdout. Both answer `{ id, cmd, ...body }` requests with
 * `{ type: 'reply', id, result | error }` and announce `{ type: 'ready' }` once.
 *
 * Every child runs in its own process group (`detached`), so `kill()` takes its
 * grandchildren (a forked producer, Python's multiprocessing workers) down with it.
 * Every live child is in `liveChildren` until it exits; `killAllChildren()` is what the
 * exit handlers call.
 */
export class ChildHandle {
  readonly label: string
  readonly ready: Promise<void>
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  #child: ChildProcess
  #send: (message: object) => void
  #pending = new Map<number, { resolve: (value: Record<string, unknown>) => void; reject: (error: Error) => void }>()
  #nextId = 1
  #stderr = ''
  #exitError: Error | undefined
  #readyResolve!: () => void
  #readyReject!: (error: Error) => void

  private constructor(label: string, child: ChildProcess, send: (message: object) => void) {
    this.label = label
    this.#child = child
    this.#send = send
    liveChildren.add(this)
    childScope.getStore()?.add(this)
    this.ready = new Promise((resolve, reject) => {
      this.#readyResolve = resolve
      this.#readyReject = reject
    })
    this.ready.catch(() => {})
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (chunk: string) => this.#output(chunk))
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        liveChildren.delete(this)
        const tail = this.#stderr.trim().split('\n').slice(-6).join('\n')
        this.#exitError = new Error(`${label} exited (${signal ?? `code ${code}`})${tail ? `: ${tail}` : ''}`)
        this.#readyReject(this.#exitError)
        for (const { reject } of this.#pending.values()) reject(this.#exitError)
        this.#pending.clear()
        resolve({ code, signal })
      })
    })
    child.on('error', (error) => {
      this.#exitError = error
      this.#readyReject(error)
      for (const { reject } of this.#pending.values()) reject(error)
      this.#pending.clear()
    })
  }

  /** Forks a Node script (plain `.mjs`, so it starts fast and runs what users install). */
  static fork(label: string, script: string, args: string[] = [], env: Record<string, string> = {}): ChildHandle {
    const child = fork(script, args, {
      // Plain node: not the tsx loader the benchmark itself runs under.
      execArgv: [],
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, ...env },
      serialization: 'json',
    })
    const handle = new ChildHandle(label, child, (message) => child.send(message))
    child.stdout?.setEncoding('utf8')
    child.stdout?.on('data', (chunk: string) => handle.#output(chunk))
    child.on('message', (message) => handle.#receive(message))
    return handle
  }

  /** Spawns a Python script that speaks JSON lines. */
  static python(label: string, python: string, script: string, args: string[] = []): ChildHandle {
    const child = spawn(python, ['-u', script, ...args], {
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    })
    const handle = new ChildHandle(label, child, (message) => {
      child.stdin?.write(`${JSON.stringify(message)}\n`)
    })
    child.stdin?.on('error', () => {})
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
    lines.on('line', (line) => {
      if (!line.trim()) return
      try {
        handle.#receive(JSON.parse(line))
      } catch {
        handle.#output(`${line}\n`)
      }
    })
    return handle
  }

  get pid(): number | undefined {
    return this.#child.pid
  }

  get alive(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null
  }

  /**
   * Sends a command and resolves with the child's result. Rejects with the child's error,
   * when it exits first, or after `timeoutMs`.
   */
  request<T = Record<string, unknown>>(cmd: string, body: object = {}, timeoutMs = 60_000): Promise<T> {
    const reply = this.#request<T>(cmd, body, timeoutMs)
    // Runners start some requests before awaiting others; if the run fails first, the
    // ones left behind reject later, when their child is killed. That is expected: the
    // failure is reported where the run is awaited, so these must not count as unhandled.
    reply.catch(() => {})
    return reply
  }

  async #request<T>(cmd: string, body: object, timeoutMs: number): Promise<T> {
    await this.ready
    if (this.#exitError) throw this.#exitError
    const id = this.#nextId++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new Error(`${this.label}: '${cmd}' timed out after ${Math.round(timeoutMs / 1000)} s`))
      }, timeoutMs)
      this.#pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer)
          resolve(value as T)
        },
        reject: (error) => {
          clearTimeout(timer)
          reject(error)
        },
      })
      try {
        this.#send({ ...body, id, cmd })
      } catch (error) {
        this.#pending.delete(id)
        clearTimeout(timer)
        reject(error as Error)
      }
    })
  }

  /** SIGKILLs the child's whole process group. Safe to call more than once. */
  kill(): void {
    const pid = this.#child.pid
    if (pid === undefined) return
    try {
      process.kill(-pid, 'SIGKILL')
    } catch {
      try {
        this.#child.kill('SIGKILL')
      } catch {}
    }
  }

  /**
   * Asks the child to exit (it closes what it opened first), then kills its group: at once
   * if it does not answer within `graceMs` (it is stuck), else if it has not exited
   * within `graceMs` of answering.
   */
  async stop(graceMs = 2000): Promise<void> {
    if (this.alive) {
      let answered = false
      try {
        await this.request('exit', {}, graceMs)
        answered = true
      } catch {}
      if (answered) {
        const timer = setTimeout(() => this.kill(), graceMs)
        await this.exited
        clearTimeout(timer)
      }
    }
    // Grandchildren may outlive a clean exit of their parent; the group goes either way.
    this.kill()
  }

  /** Keeps the tail of what the child printed, for error messages; echoes it when verbose. */
  #output(chunk: string): void {
    this.#stderr = (this.#stderr + chunk).slice(-4000)
    if (process.env.IPC_BENCH_VERBOSE) process.stderr.write(`[${this.label}] ${chunk}`)
  }

  #receive(message: unknown): void {
    if (typeof message !== 'object' || message === null) return
    const m = message as { type?: string; id?: number; result?: Record<string, unknown>; error?: string }
    if (m.type === 'ready') {
      this.#readyResolve()
      return
    }
    if (m.type !== 'reply' || m.id === undefined) return
    const pending = this.#pending.get(m.id)
    if (!pending) return
    this.#pending.delete(m.id)
    if (m.error !== undefined) pending.reject(new Error(m.error))
    else pending.resolve(m.result ?? {})
  }
}

/**
 * The children started inside `childScope.run(set, fn)` are added to `set`, so a job can
 * kill exactly the children it started even while other jobs run beside it.
 */
export const childScope = new AsyncLocalStorage<Set<ChildHandle>>()

/** Every child that has not exited yet. */
export const liveChildren = new Set<ChildHandle>()

/** SIGKILLs every live child's process group (synchronous: usable in an 'exit' handler). */
export function killAllChildren(): void {
  for (const child of liveChildren) child.kill()
}
