// Where the time of bench:redis's contended row goes (4 processes on a Redis Semaphore(1)).
// Not part of `pnpm bench`.
//
//   cd benchmarks && node --import tsx experiments/redis-contended-trace.mjs [module] [ms]
//
// module: the built `@ipc/semaphore/redis` to measure (default: this checkout's), e.g.
// /work/main/packages/semaphore/dist/redis.js. Each child loops acquire + release as
// src/children/redis-contender.mjs does, with the object's FCALLs and wake-up messages logged
// (CLOCK_MONOTONIC, comparable across processes). Prints per grant: how it was granted (at
// once: barging or a free permit; after queueing: handed over by a release, or claimed after a
// nudge), the FCALLs made, the time from the release that handed a permit over to the woken
// acquire resolving, the wake-ups that led to no grant, and INFO commandstats.
import { fork } from 'node:child_process'
import { fileURLToPath, pathToFileURL } from 'node:url'

const now = () => Number(process.hrtime.bigint()) / 1000 // µs
const f = (x) => (Number.isFinite(x) ? x.toFixed(0) : '-')

if (process.argv[2] === 'child') {
  const [, , , modulePath, url, name, startAt, durationMs] = process.argv
  const { Semaphore } = await import(modulePath)
  const log = { calls: [], wakes: [], pairs: [] }
  const proto = Object.getPrototypeOf(Semaphore.prototype) // RedisSemaphoreBase
  const call = proto.call
  let recording = false
  Semaphore.prototype.call = function (fn, args) {
    const entry = { fn, mode: fn === 'acquire' ? args[2] : '', token: fn === 'release' ? args[1] : 0, sent: now() }
    const reply = call.call(this, fn, args)
    if (!recording) return reply
    log.calls.push(entry)
    return reply.then((r) => {
      entry.replied = now()
      entry.reply = Array.isArray(r) ? String(r[0]) : String(r)
      entry.value = Array.isArray(r) ? r[1] : undefined
      return r
    })
  }
  const onWake = proto.onWake
  Semaphore.prototype.onWake = function (message) {
    if (recording) log.wakes.push({ at: now(), token: Number(message.split(' ')[1]) })
    return onWake.call(this, message)
  }
  const sem = await Semaphore.open(name, { url })
  await sem.acquire()
  await sem.release()
  await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())))
  recording = true
  const end = Date.now() + Number(durationMs)
  while (Date.now() < end) {
    const started = now()
    const calls = log.calls.length
    const token = await sem.permit()
    const acquired = now()
    const first = log.calls[calls]
    log.pairs.push({ started, acquired, token: token.token, first: first?.reply })
    await sem.release()
    log.pairs[log.pairs.length - 1].released = now()
  }
  recording = false
  await sem.close()
  process.send(log, () => process.exit(0))
} else {
  const { startRedisServer } = await import('@ipc/test-utils')
  const { Redis } = await import('ioredis')
  const { Semaphore } = await import('@ipc/semaphore/redis')
  const modulePath = process.argv[2] ?? pathToFileURL(fileURLToPath(import.meta.resolve('@ipc/semaphore/redis'))).href
  const ms = Number(process.argv[3] ?? 4000)
  const server = await startRedisServer()
  try {
    const holder = new Semaphore(1, { url: server.url, name: 'trace', persistent: true })
    await holder.ready()
    const admin = new Redis(server.url)
    const startAt = Date.now() + 1500
    const children = Array.from({ length: Number(process.env.PROCS ?? 4) }, () =>
      fork(fileURLToPath(import.meta.url), ['child', modulePath, server.url, 'trace', String(startAt), String(ms)]),
    )
    const slowlog = process.env.TRACE_SLOWLOG === '1'
    setTimeout(async () => {
      await admin.config('RESETSTAT')
      if (slowlog) {
        await admin.config('SET', 'slowlog-max-len', '2000000')
        await admin.slowlog('RESET')
        await admin.config('SET', 'slowlog-log-slower-than', '0')
      }
    }, startAt - Date.now())
    const logs = await Promise.all(children.map((c) => new Promise((r) => c.once('message', r))))
    if (slowlog) {
      // Which function PUBLISHed each wake-up: inner commands are logged before their FCALL.
      await admin.config('SET', 'slowlog-log-slower-than', '-1')
      const entries = (await admin.slowlog('GET', '2000000')).reverse()
      const counts = new Map()
      let pending = []
      for (const [, , , args] of entries) {
        const command = String(args[0]).toUpperCase()
        if (command === 'PUBLISH') pending.push(String(args[2]).endsWith(' 0') ? 'nudge' : 'grant')
        else if (command === 'FCALL') {
          const fn = String(args[1]).replace(/^ipc_v\d+_semaphore_/, '')
          const mode = fn === 'acquire' ? ` ${args[9]}` : ''
          for (const what of pending)
            counts.set(`${what} by ${fn}${mode}`, (counts.get(`${what} by ${fn}${mode}`) ?? 0) + 1)
          pending = []
        }
      }
      console.log(`wake-ups by the call that sent them: ${[...counts].map(([k, v]) => `${k} ${v}`).join(', ')}`)
    }
    const info = await admin.info('commandstats')
    report(logs, info, ms)
    await admin.quit()
    await holder.unlink()
    await holder.close()
  } finally {
    await server.stop()
  }
}

function median(values) {
  const s = [...values].sort((a, b) => a - b)
  return s.length === 0 ? Number.NaN : s[Math.floor(s.length / 2)]
}
function pct(values, p) {
  const s = [...values].sort((a, b) => a - b)
  return s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))]
}

/** Prints every logged event of every process between from - 300 µs and to (µs). */
function showAround(logs, from, to) {
  const events = []
  logs.forEach((log, p) => {
    for (const c of log.calls) {
      if (c.sent >= from - 300 && c.sent <= to) events.push([c.sent, p, `send ${c.fn} ${c.mode}${c.token}`])
      if (c.replied >= from - 300 && c.replied <= to)
        events.push([c.replied, p, `reply ${c.fn} ${c.mode}${c.token} ${c.reply} ${c.value ?? ''}`])
    }
    for (const w of log.wakes) if (w.at >= from - 300 && w.at <= to) events.push([w.at, p, `wake ${w.token}`])
    for (const q of log.pairs) {
      if (q.acquired >= from - 300 && q.acquired <= to) events.push([q.acquired, p, `acquired ${q.token}`])
    }
  })
  events.sort((a, b) => a[0] - b[0])
  console.log('--- slow hand-off')
  for (const [t, p, what] of events) console.log(`${f(t - from).padStart(6)} P${p} ${what}`)
}

function report(logs, info, ms) {
  const grants = new Map() // token → { process, pair, via }
  const releases = new Map() // token → release call
  let pairs = 0
  const byCall = new Map()
  logs.forEach((log, p) => {
    for (const c of log.calls) {
      const key = c.fn === 'acquire' ? `acquire ${c.mode} → ${c.reply}` : `${c.fn} → ${c.reply}`
      byCall.set(key, (byCall.get(key) ?? 0) + 1)
      if (c.fn === 'release') releases.set(c.token, { ...c, p })
    }
    for (const pair of log.pairs) {
      pairs++
      grants.set(pair.token, { ...pair, p, log })
    }
  })
  const wakes = logs.flatMap((l, p) => l.wakes.map((w) => ({ ...w, p })))
  const tokenWakes = new Map(wakes.filter((w) => w.token > 0).map((w) => [w.token, w]))
  const nudges = wakes.filter((w) => w.token === 0).length
  let atOnce = 0
  let byAcquire = 0
  let byRelease = 0
  let handed = 0
  let claimed = 0
  const fromReleaseSent = []
  const fromReleaseReplied = []
  const wakeToResolve = []
  const cycle = []
  const bargePair = []
  const queuedWait = []
  const sorted = [...grants.keys()].sort((a, b) => a - b)
  // The time between a grant and the one before it (acquire resolved to acquire resolved), by
  // how the later one was granted: where the run's time went.
  const spent = { atOnceSame: [], atOnceOther: [], handed: [], claimed: [] }
  for (const token of sorted) {
    const g = grants.get(token)
    const before = grants.get(token - 1)
    if (before) {
      const gap = g.acquired - before.acquired
      const kind =
        g.first === 'granted'
          ? g.p === before.p
            ? 'atOnceSame'
            : 'atOnceOther'
          : tokenWakes.has(token)
            ? 'handed'
            : 'claimed'
      spent[kind].push(gap)
    }
    const wake = tokenWakes.get(token)
    const prev = releases.get(token - 1)
    const next = releases.get(token)
    if (g.first === 'granted') {
      atOnce++
      if (next) bargePair.push(next.sent - g.started)
    } else if (wake) {
      handed++
      queuedWait.push(g.acquired - g.started)
      if (prev) {
        fromReleaseSent.push(g.acquired - prev.sent)
        fromReleaseReplied.push(wake.at - prev.replied)
        if (next) cycle.push(next.sent - prev.sent)
      }
      wakeToResolve.push(g.acquired - wake.at)
      // The call that handed it over: the release of token - 1, or (the head became due in
      // between, by the server's ms clock) the releaser's next acquire.
      if (prev) {
        const next = logs[prev.p].calls.find((c) => c.fn === 'acquire' && c.sent > prev.sent)
        if (next && wake.at > next.sent + 0) byAcquire++
        else byRelease++
      }
      if (
        prev &&
        g.acquired - prev.sent > 1000 &&
        process.env.TRACE_SLOW &&
        (globalThis.slowShown = (globalThis.slowShown ?? 0) + 1) <= 3
      )
        showAround(logs, prev.sent, g.acquired)
    } else claimed++
  }
  const stat = (name) => {
    const m = new RegExp(`cmdstat_${name}:calls=(\\d+),usec=(\\d+)`).exec(info)
    return m ? { calls: Number(m[1]), usec: Number(m[2]) } : { calls: 0, usec: 0 }
  }
  const fcall = stat('fcall')
  const publish = stat('publish')
  console.log(`${pairs} pairs in ${ms} ms: ${Math.round(pairs / (ms / 1000))} pairs/s`)
  console.log(
    `grants: at once ${atOnce} (${((100 * atOnce) / pairs).toFixed(1)}%), handed over ${handed}, claimed after a nudge ${claimed}`,
  )
  console.log(`calls: ${[...byCall].map(([k, v]) => `${k} ${v}`).join(', ')}`)
  console.log(
    `server: FCALL ${fcall.calls} (${(fcall.calls / pairs).toFixed(2)} per grant, ${(fcall.usec / fcall.calls).toFixed(1)} µs each), PUBLISH ${publish.calls}; wake-ups: ${wakes.length - nudges} grants, ${nudges} nudges`,
  )
  console.log(
    `µs, median / p90: barging pair (acquire to release sent) ${f(median(bargePair))} / ${f(pct(bargePair, 90))}; hand-off cycle (release sent to the next holder's release sent) ${f(median(cycle))} / ${f(pct(cycle, 90))}`,
  )
  console.log(
    `µs, median / p90: release sent → woken acquire resolved ${f(median(fromReleaseSent))} / ${f(pct(fromReleaseSent, 90))}; release replied → wake-up message ${f(median(fromReleaseReplied))} / ${f(pct(fromReleaseReplied, 90))}; wake-up → resolved ${f(median(wakeToResolve))} / ${f(pct(wakeToResolve, 90))}; queued acquire total ${f(median(queuedWait))}`,
  )
  console.log(
    `hand-overs made by the release (wake-up before the releaser's next acquire was sent): ${byRelease}, after it: ${byAcquire}`,
  )
  const total = Object.values(spent).reduce((a, v) => a + v.reduce((x, y) => x + y, 0), 0)
  console.log(
    `time between grants, by the later grant: ${Object.entries(spent)
      .map(
        ([k, v]) =>
          `${k} ${v.length} × ${f(v.reduce((x, y) => x + y, 0) / v.length)} µs mean, median ${f(median(v))} = ${((100 * v.reduce((x, y) => x + y, 0)) / total).toFixed(0)}%`,
      )
      .join('; ')}`,
  )
  const perProcess = logs.map((l) => l.pairs.length)
  console.log(`per process: ${perProcess.join(', ')}`)
}
