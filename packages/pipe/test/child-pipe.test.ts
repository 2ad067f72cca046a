import { createHash } from 'node:crypto'
import { spawnChild } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { Pipe } from '../src/pipe.js'

const echo = new URL('./fixtures/echo.mjs', import.meta.url)
const receiver = new URL('./fixtures/receiver.mjs', import.meta.url)

function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed >>> 0
  for (let i = 0; i < size; i += 1024) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    out.fill(x & 0xff, i, Math.min(size, i + 1024))
  }
  return out
}

describe('Pipe between two processes', () => {
  for (const mode of ['sync', 'async', 'iter'] as const) {
    it(`round-trips 5,000 messages in order through a child (${mode} child)`, { timeout: 60_000 }, async () => {
      const [mine, theirs] = Pipe({ capacity: 8192 })
      try {
        const child = spawnChild(echo, [JSON.stringify(theirs.handle), mode])
        await child.waitFor('ready')
        theirs.close()
        const n = 5000
        // Keep up to 50 in flight so both rings fill and wrap.
        const sent: unknown[] = []
        for (let i = 0; i < n; i++) {
          const msg = i % 2 === 0 ? `m${i}` : { i, bytes: new Uint8Array(i % 300) }
          sent.push(msg)
          await mine.send(msg)
          if (i >= 50) expect(await mine.recv({ timeout: 20_000 })).toEqual(sent[i - 50])
        }
        for (let i = n - 50; i < n; i++) expect(await mine.recv({ timeout: 20_000 })).toEqual(sent[i])
        mine.close()
        expect(await child.exited).toBe(0)
        expect(child.stdout()).toContain(`done ${n}`)
      } finally {
        mine.close()
        theirs.close()
      }
    })
  }

  it('carries a 64 MiB message there and back intact', { timeout: 60_000 }, async () => {
    const [mine, theirs] = Pipe()
    try {
      const child = spawnChild(echo, [JSON.stringify(theirs.handle), 'async'])
      await child.waitFor('ready')
      theirs.close()
      const big = pattern(64 * 1024 * 1024 + 5, 99)
      const sending = mine.send(big)
      const back = (await mine.recv({ timeout: 50_000 })) as Uint8Array
      await sending
      expect(back.byteLength).toBe(big.byteLength)
      expect(createHash('sha256').update(back).digest('hex')).toBe(createHash('sha256').update(big).digest('hex'))
      mine.close()
      expect(await child.exited).toBe(0)
    } finally {
      mine.close()
      theirs.close()
    }
  })

  it('sends one way to a child that only receives (duplex: false), 64 MiB included', { timeout: 60_000 }, async () => {
    const [readEnd, writeEnd] = Pipe({ duplex: false })
    try {
      const child = spawnChild(receiver, [JSON.stringify(readEnd.handle)])
      await child.waitFor('ready')
      expect(child.stdout()).toContain('readable=true writable=false')
      readEnd.close()
      const hash = createHash('sha256')
      const items: (string | Uint8Array)[] = ['one', pattern(1000, 1), pattern(64 * 1024 * 1024, 2), 'last']
      for (const item of items) {
        writeEnd.sendSync(item)
        hash.update(typeof item === 'string' ? Buffer.from(item) : item)
      }
      writeEnd.close()
      expect(await child.exited).toBe(0)
      expect(child.stdout()).toContain(`done ${items.length} ${hash.digest('hex')}`)
    } finally {
      readEnd.close()
      writeEnd.close()
    }
  })
})
