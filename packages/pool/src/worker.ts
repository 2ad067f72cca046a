/**
 * The loop each pool worker runs (built as dist/worker.js; @ipc/core's
 * `Process` starts it in a child process or a worker thread with the user's
 * module URL and the worker's two queues, revived attached). protocol.ts
 * describes the messages.
 *
 * The user's module is imported once, under `Process`'s main-guard rule: a
 * module that starts processes or pools at its top level fails the worker at
 * once instead of starting workers without end.
 */

import { DataCloneError } from '@ipc/core'
import { errorFields, importModule, placeTransfer, revive } from '@ipc/core/internal'
import type { Queue } from '@ipc/queue'
import {
  FAILED,
  MAP,
  NO_EXPORT,
  OK,
  PART,
  packNumbers,
  type Reply,
  type Request,
  TOO_LARGE,
  UNCLONABLE,
  UNREADABLE,
} from './protocol.js'

/**
 * Imports `moduleUrl`, then answers requests until the stop message, then
 * exits (even if the module keeps the event loop alive with a timer).
 * Errors of a task go back in its reply; an error here (the module cannot be
 * imported) fails the worker, and the pool reports it to the tasks.
 */
export async function poolWorker(
  moduleUrl: string,
  number: number,
  requests: Queue<Request | null>,
  replies: Queue<Reply>,
): Promise<void> {
  const stillExitWithParent = exitWithParent(requests, replies)
  const module = await importModule(moduleUrl)
  // Ready: from now on a failure of this worker is a crash, not a module that cannot be imported.
  replies.putSync([-number, OK, null])
  for (;;) {
    let request: Request | null
    try {
      request = await requests.get()
    } catch (error) {
      if (!(error instanceof DataCloneError)) throw error
      // Nested too deep to revive on this stack: the queue dropped it, its id unread. The parent
      // fails the oldest task it sent here, which is this one (requests are taken in order).
      replies.putSync([0, UNREADABLE, errorFields(error)])
      continue
    }
    if (request === null) return stop(requests, replies)
    const [id, exportName, kind, payload, transfers] = request
    const fn = module[exportName]
    if (typeof fn !== 'function') {
      replies.putSync([id, NO_EXPORT, typeof fn])
      continue
    }
    let reply: Reply
    const revived: { close?: () => void }[] = []
    try {
      if (transfers !== undefined)
        for (const { descriptor, paths } of transfers) {
          const value = (await revive(descriptor)) as { close?: () => void }
          revived.push(value)
          // Requests with transfers are never packed (pool.ts packs only those without).
          for (const path of paths) placeTransfer(payload as unknown[], path, value)
        }
      if (kind === MAP) {
        const results = new Array(payload.length)
        for (let i = 0; i < payload.length; i++) {
          let result = fn(payload[i])
          if (isThenable(result)) result = await result
          results[i] = result
        }
        reply = [id, OK, packNumbers(results)]
      } else {
        let result = fn(...payload)
        if (isThenable(result)) result = await result
        reply = [id, OK, result]
      }
    } catch (error) {
      reply = [id, FAILED, errorFields(error)]
    } finally {
      for (const value of revived) {
        try {
          value.close?.()
        } catch {
          // Best effort: what a task was given closes at exit anyway.
        }
      }
    }
    stillExitWithParent()
    try {
      replies.putSync(reply)
    } catch (error) {
      if (!(error instanceof RangeError)) {
        // The result cannot be cloned (the parent rejects with DataCloneError, as for arguments),
        // or another failure of the put: the task fails with that.
        replies.putSync([id, unsent(error), errorFields(error)])
      } else if (kind === MAP && reply[1] === OK && (reply[2] as ArrayLike<unknown>).length > 1) {
        // A chunk's results that do not fit in the ring go back in parts.
        putInParts(replies, id, reply[2] as unknown[] | Float64Array)
      } else replies.putSync([id, TOO_LARGE, null])
    }
  }
}

/**
 * In a child process: exits when the IPC channel to the parent closes. The
 * parent then is gone (a pool's workers are daemons: a parent that exits
 * normally kills them itself; this is for one killed by a signal, even
 * SIGKILL, whose exit hook never ran): no one will read a reply or send the
 * stop message, and the worker would wait in `requests.get()` forever with
 * its queues mapped. Their names are removed too, as no one else uses them.
 * A task that blocks the event loop (a synchronous loop) finishes first: the
 * close is seen at the next turn of the loop. Not for every core `Process`:
 * a non-daemon process outlives its parent, as in Python. Returns what to
 * call after each task: task code may have removed the listener
 * (`process.removeAllListeners()`), and then the channel's close went to no
 * one; it listens again, or exits if the channel closed meanwhile.
 */
function exitWithParent(requests: Queue<Request | null>, replies: Queue<Reply>): () => void {
  // A worker thread has no channel: it ends with its process.
  if (process.channel === undefined) return () => {}
  const exit = () => {
    for (const queue of [requests, replies]) {
      try {
        queue.unlink()
      } catch {
        // Removed already (the parent's exit hook ran before it died).
      }
    }
    process.exit(1)
  }
  const listen = () => {
    // Closed before this listener existed (the parent died while this process was starting, or
    // while a task had removed it).
    if (!process.connected) return exit()
    if (process.listenerCount('disconnect', exit) > 0) return
    process.once('disconnect', exit)
    // Node refs the channel for a 'disconnect' listener unless it was unref'd explicitly: child-entry
    // did so before this ran, and doing it again here keeps that true, so the listener never keeps
    // this process alive (the stop message, or the end of the event loop, still ends it).
    process.channel?.unref()
  }
  listen()
  return listen
}

/** The status of a reply that says why a result could not be put. */
function unsent(error: unknown): typeof UNCLONABLE | typeof FAILED {
  return error instanceof DataCloneError ? UNCLONABLE : FAILED
}

/**
 * Puts `results` as PART replies, halving until each fits, then an empty OK;
 * TOO_LARGE if one result alone does not fit. An empty PART opens them: the
 * parent then knows that a reply it cannot revive is one of these (see
 * protocol.ts).
 */
function putInParts(replies: Queue<Reply>, id: number, results: unknown[] | Float64Array): void {
  replies.putSync([id, PART, []])
  const put = (start: number, end: number): boolean => {
    try {
      replies.putSync([id, PART, results.slice(start, end)])
      return true
    } catch (error) {
      if (!(error instanceof RangeError)) {
        replies.putSync([id, unsent(error), errorFields(error)])
        return false
      }
      if (end - start === 1) {
        replies.putSync([id, TOO_LARGE, null])
        return false
      }
      const middle = (start + end) >>> 1
      return put(start, middle) && put(middle, end)
    }
  }
  if (put(0, results.length)) replies.putSync([id, OK, []])
}

/**
 * The stop message: close the queues and end this process (or thread; there
 * `process.exit` ends only the thread), whatever the module left running.
 */
async function stop(requests: Queue<Request | null>, replies: Queue<Reply>): Promise<never> {
  requests.close()
  replies.close()
  await flush(process.stdout)
  await flush(process.stderr)
  process.exit(0)
}

function flush(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.writableEnded) return resolve()
    stream.write('', () => resolve())
  })
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
}
