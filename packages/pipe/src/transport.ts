/**
 * What a Connection needs from what carries its messages: a pipe end in
 * shared memory (pipe-end.ts) or a socket (socket-transport.ts). Messages are
 * codec values: a tag and a payload.
 */
import type { CorruptError } from '@ipc/core'
import type { Encoded, RingWaitResult } from '@ipc/core/internal'

/** `nextLength()`: no message has started to arrive. */
export const NOTHING = -1
/** `nextLength()`: the other side closed and every message was read. */
export const END = -2
/** `takeValue()`: no fast answer; the general path (nextLength, takeMessage, drop) must run. */
export const TAKE_GENERAL: unique symbol = Symbol('take-general') as never
/** `takeMessage()`: the message began was dropped (its sender gave up); look again. */
export const RETRY: unique symbol = Symbol('retry') as never

/** A whole message, valid until `drop()`. */
export interface Message {
  tag: number
  source: Buffer
  start: number
  end: number
  /** `source` belongs to this message alone: it may be handed out without a copy. */
  owned: boolean
}

/** The handle of a pipe end: plain JSON. */
export interface PipeHandle {
  kind: 'pipe'
  /** The name of the pipe's shared memory. */
  name: string
  /** 0: the first end `Pipe()` returned; 1: the second. */
  end: 0 | 1
  /** A reservation made by `[TRANSFER]()`: keeps the end open until claimed. */
  token?: number
  [field: string]: unknown
}

export interface Transport {
  readonly readable: boolean
  readonly writable: boolean
  /** The pipe name, or the socket's address. */
  readonly name: string
  /**
   * Messages may come from a hostile peer (a socket): they are decoded with
   * `decodeUntrusted`, which holds every value (v8, packed, JSON) to a heap
   * budget and scans a v8 payload before reviving it. A pipe
   * end's shared memory is written by the same user: false.
   */
  readonly untrusted: boolean
  /** Tag of the message `nextLength` saw. */
  nextTag: number
  /** Payload size of the next message once its start is here; NOTHING; or END. */
  nextLength(): number
  /** After `nextLength() >= 0`: the whole message, `null` while part of it is still coming, or RETRY. */
  takeMessage(): Message | null | typeof RETRY
  /** Drops the message `takeMessage` returned. */
  drop(): void
  /**
   * The common receive in one step: the next message, decoded and consumed,
   * when it is whole in one record; else TAKE_GENERAL, with nothing consumed.
   */
  takeValue?(): unknown
  waitReadableSync(timeout: number): RingWaitResult
  /** `spun`: `spinReadable` ran just before and missed (the wait does not spin again). */
  waitReadable(timeout: number, signal: AbortSignal, spun?: boolean): Promise<RingWaitResult>
  /** An async wait's spin, run before any promise: true when something is there to read. */
  spinReadable?(timeout: number): boolean
  /** Sends now when that needs no wait; false when it would wait (nothing sent). */
  trySend(encoded: Encoded): boolean
  /** `trySend` of a short Latin-1 string without encoding it first; false when it cannot (nothing sent). */
  trySendText?(text: string): boolean
  sendSync(encoded: Encoded, deadline: number): void
  send(encoded: Encoded, deadline: number, signal: AbortSignal): Promise<void>
  /** The plain handle; throws TypeError when this transport cannot travel. */
  handle(): PipeHandle
  /** A handle with a reservation, for `Process`. */
  transferHandle(): PipeHandle
  close(): void
  /** Records that what arrived breaks the layout (makes the transport unusable); returns the CorruptError to throw. */
  corrupt?(detail: string, cause?: unknown): CorruptError
}
