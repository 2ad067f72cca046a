/**
 * The client certificate a process shows a Redis server that asks for one
 * (`tls-auth-clients yes`): PEM files named by two environment variables,
 * read when a connection to a `rediss://` URL is first made. They are the
 * process's own configuration, like IPC_REDIS_URL and NODE_EXTRA_CA_CERTS
 * (which names the CA that signed the server's certificate).
 */
import { readFileSync } from 'node:fs'
import { ConnectionError } from '../errors.js'

export const CERT_VARIABLE = 'IPC_REDIS_TLS_CERT'
export const KEY_VARIABLE = 'IPC_REDIS_TLS_KEY'

/** Socket options that carry the client certificate: none for `redis://`, or when neither variable is set. */
export interface TlsIdentity {
  cert?: Buffer
  key?: Buffer
}

/**
 * The client certificate and key for `url`, from the files the two variables name.
 * @throws {ConnectionError} when only one is set, or a file cannot be read (naming the variable and the file).
 */
export function tlsIdentity(url: string, redacted: string): TlsIdentity {
  if (!url.startsWith('rediss:')) return {}
  const certPath = process.env[CERT_VARIABLE] || undefined
  const keyPath = process.env[KEY_VARIABLE] || undefined
  if (certPath === undefined && keyPath === undefined) return {}
  if (certPath === undefined || keyPath === undefined)
    throw new ConnectionError(
      `Cannot reach Redis at ${redacted}: ${certPath === undefined ? KEY_VARIABLE : CERT_VARIABLE} is set but ${certPath === undefined ? CERT_VARIABLE : KEY_VARIABLE} is not (a client certificate needs both files)`,
    )
  const read = (variable: string, path: string): Buffer => {
    try {
      return readFileSync(path)
    } catch (error) {
      throw new ConnectionError(
        `Cannot reach Redis at ${redacted}: ${variable} names ${path}, which cannot be read (${(error as Error).message})`,
        { cause: error },
      )
    }
  }
  return { cert: read(CERT_VARIABLE, certPath), key: read(KEY_VARIABLE, keyPath) }
}
