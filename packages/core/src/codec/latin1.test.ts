import { describe, expect, it } from 'vitest'
import { decodeLatin1, writeLatin1 } from './latin1.js'

describe('writeLatin1() and decodeLatin1()', () => {
  it('copies a Latin-1 string byte for byte and decodes it back, short and long', () => {
    const buf = Buffer.alloc(512)
    const twoByte = `${'\u00e9'.repeat(40)}\u20ac`.slice(0, 40) // Latin-1 chars in a string V8 may store two bytes a char
    for (const text of [
      '',
      'a',
      'msg-12345',
      'héllo wörld ÿ',
      'x'.repeat(16),
      'y'.repeat(17),
      'z'.repeat(300),
      twoByte,
    ]) {
      expect(writeLatin1(text, buf, 7)).toBe(true)
      expect(decodeLatin1(buf, 7, text.length)).toBe(text)
    }
  })

  it('refuses text with a char above 0xff and writes nothing past its length', () => {
    for (const text of ['ab€cd', `${'a'.repeat(30)}€`, '\ud800']) {
      const buf = Buffer.alloc(text.length + 4, 0x2e)
      expect(writeLatin1(text, buf, 2)).toBe(false)
      expect(buf.subarray(2 + text.length).toString('latin1')).toBe('..')
      expect(buf.subarray(0, 2).toString('latin1')).toBe('..')
    }
  })
})
