/**
 * The handshake of Listener/Client connections, on length-prefixed frames.
 *
 * 1. Each side sends HELLO: `#IPC-HELLO#{"v":1,"auth":<has a key>}`. When one
 *    side has an authkey and the other has none, both fail with
 *    AuthenticationError.
 * 2. With keys, Python's `multiprocessing.connection` challenge, both ways
 *    (the listener challenges first): the challenger sends
 *    `#CHALLENGE#{sha256}<40 random bytes>`; the answer is
 *    `{sha256}` + HMAC-SHA256(key, `{sha256}<40 random bytes>`); the
 *    challenger replies `#WELCOME#` or `#FAILURE#`.
 *
 * No message passes before both proofs are accepted. Every handshake frame
 * is read with a 256-byte limit (HANDSHAKE_MAX_FRAME), refused at its header,
 * so a stranger cannot make us allocate more before it is authenticated.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { invalidArgType, invalidArgValue, outOfRange } from '@ipc/core/internal'
import { AuthenticationError } from './errors.js'
import type { SocketTransport } from './socket-transport.js'

const HELLO = Buffer.from('#IPC-HELLO#')
const CHALLENGE = Buffer.from('#CHALLENGE#')
const WELCOME = Buffer.from('#WELCOME#')
const FAILURE = Buffer.from('#FAILURE#')
const DIGEST = Buffer.from('{sha256}')
/** The longest handshake frame (hello, challenge, answer, verdict), in bytes. */
export const HANDSHAKE_MAX_FRAME = 256

/** The default `handshakeTimeout` of Listener and Client, in milliseconds. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000

/** Validates a `handshakeTimeout` option (ms, > 0, `Infinity` allowed). */
export function checkHandshakeTimeout(value: unknown): number {
  if (value === undefined) return DEFAULT_HANDSHAKE_TIMEOUT
  if (typeof value !== 'number' || Number.isNaN(value))
    throw invalidArgType(`The "handshakeTimeout" option must be a number of milliseconds, received ${String(value)}`)
  if (value <= 0) throw outOfRange(`The "handshakeTimeout" option must be > 0, received ${value}`)
  return value
}

/** Validates an authkey option; returns its bytes. An empty key is refused: it proves nothing. */
export function authkeyBytes(authkey: unknown): Buffer | undefined {
  if (authkey === undefined || authkey === null) return undefined
  let bytes: Buffer
  if (typeof authkey === 'string') bytes = Buffer.from(authkey, 'utf8')
  else if (authkey instanceof Uint8Array) bytes = Buffer.from(authkey)
  else throw invalidArgType(`The "authkey" option must be a string or a Uint8Array, received ${typeof authkey}`)
  if (bytes.byteLength === 0)
    throw invalidArgValue(
      'The "authkey" option must not be empty: an empty key proves nothing; omit it or use a secret',
    )
  return bytes
}

function mac(key: Buffer, message: Buffer): Buffer {
  return createHmac('sha256', key).update(message).digest()
}

async function deliverChallenge(ch: SocketTransport, key: Buffer, what: string, signal: AbortSignal): Promise<void> {
  const message = Buffer.concat([DIGEST, randomBytes(40)])
  ch.writeFrame(Buffer.concat([CHALLENGE, message]))
  const response = await ch.readFrame(HANDSHAKE_MAX_FRAME, Number.POSITIVE_INFINITY, signal, what)
  const expected = Buffer.concat([DIGEST, mac(key, message)])
  if (response.byteLength !== expected.byteLength || !timingSafeEqual(response, expected)) {
    ch.writeFrame(FAILURE)
    throw new AuthenticationError(`${what}: the other side's authkey is wrong`)
  }
  ch.writeFrame(WELCOME)
}

async function answerChallenge(ch: SocketTransport, key: Buffer, what: string, signal: AbortSignal): Promise<void> {
  const challenge = await ch.readFrame(HANDSHAKE_MAX_FRAME, Number.POSITIVE_INFINITY, signal, what)
  if (!challenge.subarray(0, CHALLENGE.byteLength).equals(CHALLENGE))
    throw new AuthenticationError(`${what}: the other side sent no authentication challenge`)
  const message = challenge.subarray(CHALLENGE.byteLength)
  if (!message.subarray(0, DIGEST.byteLength).equals(DIGEST))
    throw new AuthenticationError(`${what}: the other side asked for an unsupported digest (only sha256 is)`)
  ch.writeFrame(Buffer.concat([DIGEST, mac(key, message)]))
  const verdict = await ch.readFrame(HANDSHAKE_MAX_FRAME, Number.POSITIVE_INFINITY, signal, what)
  if (!verdict.equals(WELCOME)) throw new AuthenticationError(`${what}: the other side rejected this authkey`)
}

/**
 * Runs the handshake on a fresh connection (in handshake mode). `what`
 * starts every error message ("Cannot connect to \"jobs\""); aborting
 * `signal` (the handshake timeout, a caller's signal) rejects with its reason.
 *
 * @throws {AuthenticationError} when the keys differ, or one side has none.
 */
export async function handshake(
  ch: SocketTransport,
  role: 'listener' | 'client',
  key: Buffer | undefined,
  what: string,
  signal: AbortSignal,
): Promise<void> {
  ch.writeFrame(Buffer.concat([HELLO, Buffer.from(JSON.stringify({ v: 1, auth: key !== undefined }))]))
  const hello = await ch.readFrame(HANDSHAKE_MAX_FRAME, Number.POSITIVE_INFINITY, signal, what)
  let peerAuth: unknown
  try {
    if (!hello.subarray(0, HELLO.byteLength).equals(HELLO)) throw new Error('no hello')
    peerAuth = (JSON.parse(hello.subarray(HELLO.byteLength).toString('utf8')) as { auth?: unknown }).auth
  } catch {
    throw new AuthenticationError(`${what}: the other side does not speak the @ipc connection protocol`)
  }
  const other = role === 'listener' ? 'the client' : 'the listener'
  if (peerAuth === true && key === undefined)
    throw new AuthenticationError(`${what}: ${other} requires an authkey and none was given`)
  if (peerAuth !== true && key !== undefined)
    throw new AuthenticationError(`${what}: ${other} has no authkey, so it cannot prove it knows this one`)
  if (key === undefined) return
  if (role === 'listener') {
    await deliverChallenge(ch, key, what, signal)
    await answerChallenge(ch, key, what, signal)
  } else {
    await answerChallenge(ch, key, what, signal)
    await deliverChallenge(ch, key, what, signal)
  }
}
