/**
 * Calls that need their Functions library loaded first (a first call, or
 * one the server refused with "Function not found": a restart, a failover,
 * a co-tenant's FUNCTION FLUSH) go together: those made in one turn of the
 * event loop are one transaction, MULTI, one FUNCTION LOAD per library, the
 * calls in the order they came, EXEC.
 *
 * Why one transaction: nothing runs between the load and the calls, so a
 * flush cannot refuse them again (a load and a separate resend lost that
 * race over and over to a co-tenant flushing every few ms). Why one per
 * turn: every call in flight when the library went is refused in one burst,
 * and one load each (a compile of the whole library) kept a busy server
 * saturated, its socket backed up for seconds, so that renewals and cancels
 * could not get through and handed items lapsed.
 *
 * One server only: a cluster's calls go to the masters of their slots, and
 * a transaction must stay on one node (connection.ts loads there per call).
 */
import { isErrorReply, isFunctionMissing } from './error-replies.js'
import type { RedisLibrary } from './library.js'

/** @redis/client's MULTI builder, as used here (raw commands, raw replies). */
export interface Transaction {
  addCommand(args: readonly string[]): Transaction
  /** The replies; an error reply among them rejects with a MultiErrorReply (`.replies`). */
  exec(): Promise<unknown[]>
}

/** A client that can send a transaction (the one-server client). */
export interface TransactionClient {
  multi(): Transaction
}

/** A call's error reply; the load's instead when the load failed and the call found no function. */
function failureOf(reply: unknown, load: unknown): unknown {
  return isErrorReply(load) && isFunctionMissing(reply) ? load : reply
}

interface Entry {
  library: RedisLibrary
  command: readonly string[]
  resolve(reply: unknown): void
  reject(error: unknown): void
}

/** The calls of one turn on one client. */
interface Batch {
  client: TransactionClient
  entries: Entry[]
}

export class LoadBatches {
  #open: Batch | undefined
  readonly #loaded: (library: RedisLibrary) => void

  /** @param loaded Runs for each library a transaction loaded. */
  constructor(loaded: (library: RedisLibrary) => void) {
    this.#loaded = loaded
  }

  /**
   * Sends `command` after a load of `library`, in this turn's transaction on
   * `client`. Resolves with its reply; rejects with its own error reply (the
   * load's, when the load failed and the call found no function), or with
   * the transaction's error (a lost socket: then none of it ran).
   */
  send(client: TransactionClient, library: RedisLibrary, command: readonly string[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let batch = this.#open
      if (batch === undefined || batch.client !== client) {
        const opened: Batch = { client, entries: [] }
        this.#open = batch = opened
        setImmediate(() => {
          if (this.#open === opened) this.#open = undefined
          void this.#flush(opened)
        })
      }
      batch.entries.push({ library, command, resolve, reject })
    })
  }

  async #flush({ client, entries }: Batch): Promise<void> {
    const libraries = [...new Set(entries.map((entry) => entry.library))]
    const count = libraries.length + entries.length
    let replies: unknown
    try {
      const transaction = client.multi()
      for (const library of libraries) transaction.addCommand(['FUNCTION', 'LOAD', 'REPLACE', library.code])
      for (const entry of entries) transaction.addCommand(entry.command)
      replies = await transaction.exec()
    } catch (error) {
      // Error replies inside EXEC come as a MultiErrorReply carrying every reply; anything else
      // (a lost socket, EXECABORT) means nothing of the transaction ran.
      replies = (error as { replies?: unknown } | undefined)?.replies
      if (!Array.isArray(replies) || replies.length !== count) {
        for (const entry of entries) entry.reject(error)
        return
      }
    }
    // Untrusted like any reply: EXEC answers one reply per command; any other answer fails every call
    // (ConnectionError: whether they ran is unknown, as for a reply that never came).
    if (!Array.isArray(replies) || replies.length !== count) {
      const error = new Error(
        `the server answered a transaction of ${count} commands with ${Array.isArray(replies) ? `${replies.length} replies` : 'no array'}`,
      )
      for (const entry of entries) entry.reject(error)
      return
    }
    libraries.forEach((library, i) => {
      if (!isErrorReply(replies[i])) this.#loaded(library)
    })
    entries.forEach((entry, i) => {
      const reply = replies[libraries.length + i]
      if (!isErrorReply(reply)) entry.resolve(reply)
      else entry.reject(failureOf(reply, replies[libraries.indexOf(entry.library)]))
    })
  }
}
