import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Where the child scripts live. */
export const childrenDir = fileURLToPath(new URL('./children/', import.meta.url))
/** Where the Python peer scripts live. */
export const pythonDir = fileURLToPath(new URL('../python/', import.meta.url))

/**
 * What one benchmark run shares between workloads: its id (every named segment and
 * socket carries it, so cleanup removes exactly this run's leftovers and never another
 * process's), a private temp folder, the Python interpreter, and the names of every
 * shared-memory object our side created.
 */
export class RunContext {
  readonly runId = randomBytes(4).toString('hex')
  readonly tag = `ipcbench-${this.runId}`
  readonly tmpDir = join(tmpdir(), this.tag)
  /** Names reported by our primitives' `.name`, swept from /dev/shm at the end. */
  readonly segmentNames = new Set<string>()
  readonly python: { command: string; version: string } | undefined
  /** Why Python peers are skipped, when they are. */
  readonly pythonSkipped: string | undefined
  #counter = 0

  constructor(options: { python?: string | false } = {}) {
    mkdirSync(this.tmpDir, { recursive: true })
    // Lets a later run recognise this one's leftovers if this process is SIGKILLed.
    writeFileSync(join(this.tmpDir, 'pid'), String(process.pid))
    if (options.python === false) {
      this.pythonSkipped = 'Python peers disabled (--no-python)'
      return
    }
    const command = options.python ?? 'python3'
    const probe = spawnSync(command, ['-c', 'import multiprocessing, sys; print(sys.version.split()[0])'], {
      encoding: 'utf8',
      timeout: 10_000,
    })
    if (probe.status === 0 && probe.stdout.trim()) {
      this.python = { command, version: probe.stdout.trim() }
    } else {
      this.pythonSkipped = `${command} not found or not working: Python peers skipped`
    }
  }

  /** A fresh name for a named primitive or socket of this run, e.g. `ipcbench-1a2b3c4d-q7`. */
  uniqueName(kind: string): string {
    this.#counter += 1
    return `${this.tag}-${kind}${this.#counter}`
  }

  socketPath(): string {
    return join(this.tmpDir, `${this.uniqueName('s')}.sock`)
  }

  rememberSegment(name: unknown): void {
    if (typeof name === 'string' && name.length > 0) this.segmentNames.add(name.replace(/^\/+/, ''))
  }
}
