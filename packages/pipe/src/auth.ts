/**
 * The handshakes of Listener/Client connections, on length-prefixed frames:
 * ours (`protocol: 'ipc'`) and CPython's (`protocol: 'python'`, below).
 *
 * Ours:
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
import { invalidArgType, invalidArgValue, outOfRange, shown } from '@ipc/core/internal'
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
    throw invalidArgType(`The "handshakeTimeout" option must be a number of milliseconds, received ${shown(value)}`)
  if (value <= 0) throw outOfRange(`The "handshakeTimeout" option must be > 0, received ${value}`)
  return value
}

/**
 * Validates `protocol` and `codec` (see PythonWireOptions); true for CPython's
 * wire. `codec: 'pickle'` implies `protocol: 'python'`; a local name cannot
 * speak it.
 */
export function checkWire(options: { protocol?: unknown; codec?: unknown }, addressKind: 'local' | 'tcp'): boolean {
  const { protocol, codec } = options
  if (protocol !== undefined && protocol !== 'ipc' && protocol !== 'python')
    throw invalidArgValue(`The "protocol" option must be 'ipc' or 'python', received ${shown(protocol)}`)
  if (codec !== undefined && codec !== 'pickle')
    throw invalidArgValue(`The "codec" option must be 'pickle', received ${shown(codec)}`)
  if (protocol === 'ipc' && codec !== undefined)
    throw invalidArgValue(
      `The "codec" option ${String(codec)} needs protocol 'python'; the @ipc protocol has its own codec`,
    )
  const python = protocol === 'python' || codec === 'pickle'
  if (python && addressKind !== 'tcp')
    throw invalidArgValue(
      "CPython's multiprocessing.connection protocol needs a tcp://host:port address, received a local name",
    )
  return python
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

/** Answers the other side's challenge and waits for its verdict (exported for the listener's tests). */
export async function answerChallenge(
  ch: SocketTransport,
  key: Buffer,
  what: string,
  signal: AbortSignal,
): Promise<void> {
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
 * The listener's `proved` runs once the client answered its challenge: the
 * client knows the key (the listener then answers the client's challenge).
 *
 * @throws {AuthenticationError} when the keys differ, or one side has none.
 */
export async function handshake(
  ch: SocketTransport,
  role: 'listener' | 'client',
  key: Buffer | undefined,
  what: string,
  signal: AbortSignal,
  proved?: () => void,
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
    proved?.()
    await answerChallenge(ch, key, what, signal)
  } else {
    await answerChallenge(ch, key, what, signal)
    await deliverChallenge(ch, key, what, signal)
  }
}

// ------------------------------------------------------------ CPython's handshake

/*
 * CPython's `multiprocessing.connection` authentication (`protocol: 'python'`).
 * No hello frame: with an authkey the listener speaks first; without one
 * nothing is exchanged (as in CPython, a keyless side cannot tell that the
 * other has a key: it sees the challenge as a first message).
 *
 *   listener (deliver, then answer)          client (answer, then deliver)
 *   -> #CHALLENGE# + M                      <- answer(M)
 *   <- #WELCOME# / #FAILURE#                -> the same, client challenging
 *
 * M, the challenge message, is 20 random bytes for Python <= 3.11, or
 * `{digest}` + 40 random bytes for 3.12+ (`{sha256}` by default; we always
 * send `{sha256}`). The answer to M:
 * - M of exactly 20 (or 16) bytes: legacy, the raw HMAC-MD5 of M (16 bytes);
 * - else M must start with `{name}`, name one of md5, sha256, sha384,
 *   sha3_256, sha3_384: `{name}` + HMAC-name(key, M). The MAC covers M's
 *   prefix too, so a man in the middle cannot downgrade the digest.
 * A challenger accepts an answer of 16 (or 20) bytes as legacy HMAC-MD5 of
 * M, which is how a 3.11 peer answers a `{sha256}` challenge (it takes all
 * of M as the message); any other answer must carry an allowed `{name}`
 * prefix. That is CPython 3.12's fallback, both ways.
 */

const LEGACY_CHALLENGE_BYTES = 20
const MD5_BYTES = 16
/** CPython's allowed digests, by their wire name, with Node's name. */
const PYTHON_DIGESTS: ReadonlyMap<string, string> = new Map([
  ['md5', 'md5'],
  ['sha256', 'sha256'],
  ['sha384', 'sha384'],
  ['sha3_256', 'sha3-256'],
  ['sha3_384', 'sha3-384'],
])
/** The longest digest name, for the search of the closing brace. */
const MAX_DIGEST_NAME = 8

/** The digest an answer or a challenge message names: '' for the legacy (unprefixed HMAC-MD5) form; undefined when unsupported. */
function digestOf(message: Buffer): { name: string; payload: Buffer } | undefined {
  if (message.byteLength === LEGACY_CHALLENGE_BYTES || message.byteLength === MD5_BYTES)
    return { name: '', payload: message }
  if (message[0] !== 0x7b /* { */) return undefined
  const close = message.subarray(0, MAX_DIGEST_NAME + 2).indexOf(0x7d /* } */, 1)
  if (close < 0) return undefined
  const name = message.subarray(1, close).toString('latin1')
  if (!PYTHON_DIGESTS.has(name)) return undefined
  return { name, payload: message.subarray(close + 1) }
}

function hmacOf(wireName: string, key: Buffer, message: Buffer): Buffer {
  return createHmac(PYTHON_DIGESTS.get(wireName) ?? 'md5', key)
    .update(message)
    .digest()
}

/** Our challenge, as CPython 3.12+ sends it; a 3.11 peer answers it with a raw HMAC-MD5. */
async function deliverPythonChallenge(
  ch: SocketTransport,
  key: Buffer,
  what: string,
  signal: AbortSignal,
): Promise<void> {
  const message = Buffer.concat([DIGEST, randomBytes(40)])
  ch.writeFrame(Buffer.concat([CHALLENGE, message]))
  const response = await ch.readFrame(HANDSHAKE_MAX_FRAME, Number.POSITIVE_INFINITY, signal, what)
  const answer = digestOf(response)
  let ok = false
  if (answer !== undefined) {
    const expected = hmacOf(answer.name === '' ? 'md5' : answer.name, key, message)
    ok = expected.byteLength === answer.payload.byteLength && timingSafeEqual(expected, answer.payload)
  }
  if (!ok) {
    ch.writeFrame(FAILURE)
    throw new AuthenticationError(
      answer === undefined
        ? `${what}: the other side's answer to the challenge names no supported digest (${response.byteLength} bytes)`
        : `${what}: the other side's authkey is wrong`,
    )
  }
  ch.writeFrame(WELCOME)
}

async function answerPythonChallenge(
  ch: SocketTransport,
  key: Buffer,
  what: string,
  signal: AbortSignal,
): Promise<void> {
  const challenge = await ch.readFrame(HANDSHAKE_MAX_FRAME, Number.POSITIVE_INFINITY, signal, what)
  if (!challenge.subarray(0, CHALLENGE.byteLength).equals(CHALLENGE))
    throw new AuthenticationError(`${what}: the other side sent no authentication challenge`)
  const message = challenge.subarray(CHALLENGE.byteLength)
  if (message.byteLength < LEGACY_CHALLENGE_BYTES)
    throw new AuthenticationError(`${what}: the challenge is too short (${message.byteLength} bytes)`)
  const asked = digestOf(message)
  if (asked === undefined)
    throw new AuthenticationError(
      `${what}: the challenge names no supported digest (md5, sha256, sha384, sha3_256, sha3_384)`,
    )
  const response =
    asked.name === ''
      ? hmacOf('md5', key, message)
      : Buffer.concat([Buffer.from(`{${asked.name}}`, 'latin1'), hmacOf(asked.name, key, message)])
  ch.writeFrame(response)
  const verdict = await ch.readFrame(HANDSHAKE_MAX_FRAME, Number.POSITIVE_INFINITY, signal, what)
  if (!verdict.equals(WELCOME)) throw new AuthenticationError(`${what}: the other side rejected this authkey`)
}

/**
 * CPython's handshake on a fresh connection: with a key, the listener
 * challenges first, then the client (Python's `Listener.accept` and
 * `Client`); without one, nothing.
 *
 * @throws {AuthenticationError} when the other side's key differs (or it answers no challenge).
 */
export async function pythonHandshake(
  ch: SocketTransport,
  role: 'listener' | 'client',
  key: Buffer | undefined,
  what: string,
  signal: AbortSignal,
  proved?: () => void,
): Promise<void> {
  if (key === undefined) return
  if (role === 'listener') {
    await deliverPythonChallenge(ch, key, what, signal)
    proved?.()
    await answerPythonChallenge(ch, key, what, signal)
  } else {
    await answerPythonChallenge(ch, key, what, signal)
    await deliverPythonChallenge(ch, key, what, signal)
  }
}
