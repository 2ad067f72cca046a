// Runs under the arm64 node (qemu-user), in a project where the packed @ipc
// tarballs are installed: a cross-process smoke test of every primitive with
// the linux-arm64 prebuild. Children (child.mjs) run under the same node.
//
// Each primitive is used with both sync and async waits. Debian 12's qemu-user
// (7.2) has neither io_uring nor futex_waitv, so the async waits run in the
// addon's 'threads' mode there (a waiter thread per pending async wait), which this also proves;
// the mode in use is printed.
//
// argv: the command words put before process.execPath to start a child
// (qemu-aarch64-static -L /usr/aarch64-linux-gnu when binfmt_misc cannot be
// registered); none when the kernel runs arm64 binaries itself.
import { spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { asyncWaitMode } from '@ipc/core/internal'
import { Pipe } from '@ipc/pipe'
import { Queue } from '@ipc/queue'
import { Semaphore } from '@ipc/semaphore'
import { SharedValue } from '@ipc/shared'
import { Barrier, Condition, Event } from '@ipc/sync'

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const launcher = process.argv.slice(2)
const started = performance.now()
const children = new Set()
/** Every primitive this run creates: their segments (/dev/shm/ipc-<name>) must be gone at the end. */
const created = []
const make = (primitive) => {
  created.push(primitive.handle.name)
  return primitive
}

function check(ok, what) {
  if (!ok) throw new Error(`arm64 smoke: ${what}`)
}

/** Starts child.mjs with `args`; `exited` resolves to its stdout once it exits with `expected` (an exit code or a signal name). */
function child(args, expected = 0) {
  const [command, ...prefix] = [...launcher, process.execPath]
  const proc = spawn(command, [...prefix, join(here, 'child.mjs'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  children.add(proc)
  let out = ''
  const lines = []
  proc.stdout.setEncoding('utf8').on('data', (chunk) => {
    out += chunk
    for (const waiter of lines.splice(0)) waiter()
  })
  const exited = new Promise((resolve, reject) => {
    proc.on('error', reject)
    proc.on('exit', (code, signal) => {
      children.delete(proc)
      for (const waiter of lines.splice(0)) waiter()
      if (code === expected || signal === expected) resolve(out)
      else reject(new Error(`child ${args[0]} exited with ${code ?? signal} (expected ${expected}); stdout: ${out}`))
    })
  })
  /** Resolves when stdout holds `text`. */
  const waitFor = async (text) => {
    while (!out.includes(text)) {
      if (proc.exitCode !== null || proc.signalCode !== null)
        throw new Error(`child ${args[0]} exited before "${text}"`)
      await new Promise((resolve) => lines.push(resolve))
    }
  }
  return { proc, exited, waitFor }
}

async function section(name, body) {
  const t0 = performance.now()
  await body()
  console.log(`ok ${name} (${((performance.now() - t0) / 1000).toFixed(1)} s)`)
}

try {
  // The addon must be the bundled linux-arm64 prebuild, never a local build.
  const coreDir = dirname(require.resolve('@ipc/core/package.json'))
  const nodeGypBuild = createRequire(join(coreDir, 'package.json'))('node-gyp-build')
  const addonPath = nodeGypBuild.path(join(coreDir, 'native'))
  check(process.arch === 'arm64', `process.arch is ${process.arch}`)
  check(
    /native\/prebuilds\/linux-arm64\/[^/]+\.glibc\.node$/.test(addonPath),
    `node-gyp-build picks ${addonPath}, not the linux-arm64 glibc prebuild`,
  )
  check(!readdirSync(join(coreDir, 'native')).includes('build'), 'the installed @ipc/core has a native/build directory')
  console.log(`node ${process.version} ${process.platform}-${process.arch}, addon ${relative(coreDir, addonPath)}`)
  console.log(`async wait mode: ${asyncWaitMode()}`)

  await section(
    'queue: 2 producers × 200 items, 2 consumers (one sync, one async each), each item exactly once',
    async () => {
      const queue = make(new Queue())
      try {
        const handle = JSON.stringify(queue.handle)
        const producers = ['sync', 'async'].map((mode, id) => child(['produce', handle, String(id), '200', mode]))
        const consumers = ['sync', 'async'].map((mode) => child(['consume', handle, mode]))
        await Promise.all(producers.map((p) => p.exited))
        queue.putSync(null)
        queue.putSync(null)
        const outputs = await Promise.all(consumers.map((c) => c.exited))
        const got = outputs.flatMap((out) => JSON.parse(out.slice(out.indexOf('GOT ') + 4)))
        const expected = [0, 1].flatMap((id) => Array.from({ length: 200 }, (_, seq) => `${id}:${seq}`))
        check(got.length === expected.length, `consumers got ${got.length} items, expected ${expected.length}`)
        check(new Set(got).size === got.length, 'an item was delivered twice')
        check(
          expected.every((item) => got.includes(item)),
          'an item was lost',
        )
      } finally {
        queue.close()
      }
    },
  )

  await section('pipe: 100 messages echoed by an async child, in order', async () => {
    const [mine, theirs] = Pipe()
    make(mine)
    try {
      const echo = child(['echo', JSON.stringify(theirs.handle), 'async'])
      // Closing our copy of the child's end before it attached would close the pipe.
      await echo.waitFor('READY')
      theirs.close()
      for (let i = 0; i < 100; i++) {
        const message = i % 2 === 0 ? `m${i}` : { i, bytes: new Uint8Array(i) }
        mine.sendSync(message)
        const back = i % 3 === 0 ? await mine.recv({ timeout: 60_000 }) : mine.recvSync({ timeout: 60_000 })
        check(JSON.stringify(back) === JSON.stringify(message), `message ${i} came back as ${JSON.stringify(back)}`)
      }
      mine.close()
      check((await echo.exited).includes('ECHOED 100'), 'the echo child did not count 100 messages')
    } finally {
      mine.close()
      theirs.close()
    }
  })

  await section('shared: 2 children × 500 increments under the lock', async () => {
    const counter = make(new SharedValue('int32', 0))
    try {
      const handle = JSON.stringify(counter.handle)
      await Promise.all([0, 1].map(() => child(['increment', handle, '500']).exited))
      check(counter.value === 1000, `the counter is ${counter.value}, expected 1000`)
    } finally {
      counter.close()
    }
  })

  await section('semaphore: 4 children (2 sync, 2 async) × 3 rounds, never more than 2 inside', async () => {
    const semaphore = make(new Semaphore(2))
    const inside = make(new SharedValue('int32', 0))
    const peak = make(new SharedValue('int32', 0))
    try {
      const args = ['limit', ...[semaphore, inside, peak].map((p) => JSON.stringify(p.handle)), '3']
      await Promise.all(['sync', 'async', 'sync', 'async'].map((mode) => child([...args, mode]).exited))
      check(peak.value >= 1 && peak.value <= 2, `${peak.value} children were inside at once, limit 2`)
      check(
        inside.value === 0 && semaphore.value === 2,
        `after the run: inside ${inside.value}, permits ${semaphore.value}`,
      )
      console.log(`   peak inside: ${peak.value}`)
    } finally {
      for (const primitive of [semaphore, inside, peak]) primitive.close()
    }
  })

  await section("semaphore: a SIGKILLed holder's permit comes back to acquireSync", async () => {
    const semaphore = make(new Semaphore(1))
    try {
      const holder = child(['hold', JSON.stringify(semaphore.handle)], 'SIGKILL')
      await holder.waitFor('HOLDING')
      check(semaphore.value === 0, `the holder took no permit (value ${semaphore.value})`)
      // Blocks this thread while the holder kills itself 300 ms after HOLDING.
      check(semaphore.acquireSync({ timeout: 30_000 }) === true, 'the permit did not come back within 30 s')
      await holder.exited
      semaphore.release()
      check(semaphore.value === 1, `value ${semaphore.value} after release, expected 1`)
    } finally {
      semaphore.close()
    }
  })

  await section("semaphore: a SIGKILLed holder's permit comes back to an async acquire", async () => {
    const semaphore = make(new Semaphore(1))
    try {
      const holder = child(['hold', JSON.stringify(semaphore.handle)], 'SIGKILL')
      await holder.waitFor('HOLDING')
      check((await semaphore.acquire({ timeout: 30_000 })) === true, 'the permit did not come back within 30 s')
      await holder.exited
      semaphore.release()
      check(semaphore.value === 1, `value ${semaphore.value} after release, expected 1`)
    } finally {
      semaphore.close()
    }
  })

  await section(
    'sync: Event set() wakes async and sync waiters, a Condition notify, a Barrier of 3 over 3 rounds',
    async () => {
      const event = make(new Event())
      const condition = make(new Condition())
      const barrier = make(new Barrier(3))
      try {
        const waiting = [event.wait({ timeout: 30_000 }), event.wait({ timeout: 30_000 })]
        setTimeout(() => event.set(), 50)
        check((await Promise.all(waiting)).every(Boolean), 'an Event waiter was not woken')
        check(event.waitSync({ timeout: 0 }) === true, 'the Event is not set')
        let ready = false
        setTimeout(() => {
          condition.withLockSync(() => {
            ready = true
            condition.notifyAll()
          })
        }, 50)
        check(
          (await condition.withLock(() => condition.waitFor(() => ready, { timeout: 30_000 }))) === true,
          'no notify',
        )
        for (let round = 0; round < 3; round++) {
          const indexes = await Promise.all([0, 1, 2].map(() => barrier.wait({ timeout: 30_000 })))
          check(indexes.join() === '0,1,2', `round ${round}: indexes ${indexes.join()}`)
        }
      } finally {
        event.close()
        condition.unlink()
        condition.close()
        barrier.close()
      }
    },
  )

  const left = created.filter((name) => existsSync(`/dev/shm/ipc-${name}`))
  check(left.length === 0, `segments left in /dev/shm: ${left.map((name) => `ipc-${name}`).join(', ')}`)
  console.log(
    `arm64 smoke: every primitive works across processes (${((performance.now() - started) / 1000).toFixed(1)} s)`,
  )
} finally {
  for (const proc of children) proc.kill('SIGKILL')
}
