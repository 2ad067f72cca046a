import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TEST_TLS } from '@ipc/test-utils'
import { afterEach, describe, expect, it, onTestFinished } from 'vitest'
import { ConnectionError } from '../errors.js'
import { CERT_VARIABLE, KEY_VARIABLE, tlsIdentity } from './tls-identity.js'

const saved = { cert: process.env[CERT_VARIABLE], key: process.env[KEY_VARIABLE] }
afterEach(() => {
  for (const [variable, value] of [
    [CERT_VARIABLE, saved.cert],
    [KEY_VARIABLE, saved.key],
  ] as const)
    if (value === undefined) delete process.env[variable]
    else process.env[variable] = value
})

/** Two files in a temp dir that are no certificate and key, named by the two variables. */
function files(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ipc-tls-identity-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  const cert = join(dir, 'client.crt')
  const key = join(dir, 'client.key')
  writeFileSync(cert, 'CERT')
  writeFileSync(key, 'KEY')
  process.env[CERT_VARIABLE] = cert
  process.env[KEY_VARIABLE] = key
  return { cert, key }
}

describe('tlsIdentity()', () => {
  it('reads both files for a rediss:// URL, and nothing for redis://', () => {
    process.env[CERT_VARIABLE] = TEST_TLS.cert
    process.env[KEY_VARIABLE] = TEST_TLS.key
    const identity = tlsIdentity('rediss://127.0.0.1:6380', 'rediss://127.0.0.1:6380')
    expect(identity.cert?.toString()).toMatch(/^-----BEGIN CERTIFICATE-----/)
    expect(identity.key?.toString()).toMatch(/PRIVATE KEY-----/)
    expect(tlsIdentity('redis://127.0.0.1:6379', 'redis://127.0.0.1:6379')).toEqual({})
  })

  it('is empty when neither variable is set (or both are empty)', () => {
    delete process.env[CERT_VARIABLE]
    process.env[KEY_VARIABLE] = ''
    expect(tlsIdentity('rediss://h:1', 'rediss://h:1')).toEqual({})
  })

  it('throws ConnectionError naming both variables when the files are no certificate and key', () => {
    files()
    expect(() => tlsIdentity('rediss://h:1', 'rediss://h:1')).toThrow(
      /the client certificate in IPC_REDIS_TLS_CERT \(.*client\.crt\) and key in IPC_REDIS_TLS_KEY \(.*client\.key\) cannot be used/,
    )
  })

  it('throws ConnectionError naming the missing variable or the unreadable file', () => {
    const { cert } = files()
    delete process.env[KEY_VARIABLE]
    expect(() => tlsIdentity('rediss://h:1', 'rediss://h:1')).toThrow(ConnectionError)
    expect(() => tlsIdentity('rediss://h:1', 'rediss://h:1')).toThrow(
      /IPC_REDIS_TLS_CERT is set but IPC_REDIS_TLS_KEY is not/,
    )
    process.env[KEY_VARIABLE] = `${cert}.missing`
    expect(() => tlsIdentity('rediss://h:1', 'rediss://h:1')).toThrow(
      /IPC_REDIS_TLS_KEY names .*missing, which cannot be read/,
    )
  })
})
