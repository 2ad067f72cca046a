/**
 * The client certificate a process shows a Redis server that asks for one
 * (`tls-auth-clients yes`): PEM files named by two environment variables,
 * read when a connection to a `rediss://` URL is first made (a connection
 * serves every object of the process on that URL; one made after all of
 * them closed reads the files again, so a renewed certificate is used). They are the
 * process's own configuration, like IPC_REDIS_URL and NODE_EXTRA_CA_CERTS
 * (which names the CA that signed the server's certificate).
 */
import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
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
  const identity = { cert: read(CERT_VARIABLE, certPath), key: read(KEY_VARIABLE, keyPath) }
  try {
    // Parsed here so that a file that is no PEM certificate, or a key that does not match it, is named.
    createSecureContext(identity)
  } catch (error) {
    throw new ConnectionError(
      `Cannot reach Redis at ${redacted}: the client certificate in ${CERT_VARIABLE} (${certPath}) and key in ${KEY_VARIABLE} (${keyPath}) cannot be used (${(error as Error).message})`,
      { cause: error },
    )
  }
  return identity
}
