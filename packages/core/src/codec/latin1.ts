/**
 * Latin-1 text (one byte per char, chars up to 0xff) into and out of
 * buffers, the fast paths of the codec and the rings: short text is copied
 * in JS, longer text by Buffer's own native methods.
 */

/** Buffer's own string methods (present on every Buffer, missing from its types). */
export interface FastText {
  latin1Write(text: string, offset: number, length: number): number
  utf8Write(text: string, offset: number, length: number): number
  ucs2Write(text: string, offset: number, length: number): number
  latin1Slice(start: number, end: number): string
  utf8Slice(start: number, end: number): string
  ucs2Slice(start: number, end: number): string
}

/**
 * Latin-1 text up to this length is copied in JS, both ways: a native call
 * costs about 45 ns, a char copied in JS about 2.
 */
export const SHORT_TEXT = 16

/** A char past Latin-1 (a UTF-16 code unit from 0x100: surrogates included). */
const NOT_LATIN1 = /[\u0100-\uffff]/

/** True when every char of `s` is at most 0xff. */
export function isLatin1(s: string): boolean {
  return !NOT_LATIN1.test(s)
}

/**
 * The Latin-1 fast path of a writer that skips `encode`: when every char of
 * `text` is at most 0xff, copies it to `target` from `start`, one byte per
 * char, and returns true (its payload for tag 1 is then in place). Else
 * false, having written at most `text.length` bytes from `start` (which the
 * caller does not publish). The caller checked that `text.length` bytes fit.
 */
export function writeLatin1(text: string, target: Buffer, start: number): boolean {
  const size = text.length
  if (size > SHORT_TEXT) {
    if (!isLatin1(text)) return false
    ;(target as unknown as FastText).latin1Write(text, start, size)
    return true
  }
  for (let k = 0; k < size; k++) {
    const c = text.charCodeAt(k)
    if (c > 0xff) return false
    target[start + k] = c
  }
  return true
}

const fromCharCode = String.fromCharCode

/**
 * Revives a tag-1 (Latin-1) payload of `size` bytes at `start` of `source`:
 * short ones in JS (one flat one-byte string, no native call), longer ones by
 * Buffer's own slicing. No bounds check: the caller (a ring) checked the
 * message against what was published.
 */
export function decodeLatin1(source: Buffer, start: number, size: number): string {
  if (size <= SHORT_TEXT) return shortLatin1(source, start, size)
  return (source as unknown as FastText).latin1Slice(start, start + size)
}

/** Decodes a Latin-1 string of at most SHORT_TEXT bytes: one call, a flat one-byte string. */
function shortLatin1(u: Uint8Array, s: number, n: number): string {
  // biome-ignore format: one case per length reads best in columns
  switch (n) {
    case 0: return ''
    case 1: return fromCharCode(u[s] as number)
    case 2: return fromCharCode(u[s] as number, u[s + 1] as number)
    case 3: return fromCharCode(u[s] as number, u[s + 1] as number, u[s + 2] as number)
    case 4: return fromCharCode(u[s] as number, u[s + 1] as number, u[s + 2] as number, u[s + 3] as number)
    default: {
      const a = u[s] as number, b = u[s + 1] as number, c = u[s + 2] as number, d = u[s + 3] as number
      const e = u[s + 4] as number
      switch (n) {
        case 5: return fromCharCode(a, b, c, d, e)
        case 6: return fromCharCode(a, b, c, d, e, u[s + 5] as number)
        case 7: return fromCharCode(a, b, c, d, e, u[s + 5] as number, u[s + 6] as number)
        case 8: return fromCharCode(a, b, c, d, e, u[s + 5] as number, u[s + 6] as number, u[s + 7] as number)
        default: {
          const f = u[s + 5] as number, g = u[s + 6] as number, h = u[s + 7] as number, i = u[s + 8] as number
          switch (n) {
            case 9: return fromCharCode(a, b, c, d, e, f, g, h, i)
            case 10: return fromCharCode(a, b, c, d, e, f, g, h, i, u[s + 9] as number)
            case 11: return fromCharCode(a, b, c, d, e, f, g, h, i, u[s + 9] as number, u[s + 10] as number)
            case 12: return fromCharCode(a, b, c, d, e, f, g, h, i, u[s + 9] as number, u[s + 10] as number, u[s + 11] as number)
            default: {
              const j = u[s + 9] as number, k = u[s + 10] as number, l = u[s + 11] as number, m = u[s + 12] as number
              switch (n) {
                case 13: return fromCharCode(a, b, c, d, e, f, g, h, i, j, k, l, m)
                case 14: return fromCharCode(a, b, c, d, e, f, g, h, i, j, k, l, m, u[s + 13] as number)
                case 15: return fromCharCode(a, b, c, d, e, f, g, h, i, j, k, l, m, u[s + 13] as number, u[s + 14] as number)
                default: return fromCharCode(a, b, c, d, e, f, g, h, i, j, k, l, m, u[s + 13] as number, u[s + 14] as number, u[s + 15] as number)
              }
            }
          }
        }
      }
    }
  }
}
