/**
 * Elements as text on the Redis server (the format library.ts documents):
 * `encodeElement` turns a value already checked by `checkElement` into its
 * text; `decodeElement` turns a reply back into a value, checking it against
 * the type first (a reply is untrusted: another client may have written the
 * key), so a garbled element is a CorruptError, never NaN or a wrong type.
 */
import { CorruptError } from '@ipc/core'
import type { ElementType } from '../element-types.js'

const INTEGER = /^-?\d{1,20}$/
const FLOAT = /^-?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)$/

/** The text of a value checked by `checkElement` (a number, a bigint, or 0/1 for bool). */
export function encodeElement(type: ElementType, value: number | bigint): string {
  if (type.family !== 'float') return String(value)
  const stored = type.name === 'float32' ? Math.fround(value as number) : (value as number)
  if (Number.isNaN(stored)) return 'nan'
  if (stored === Number.POSITIVE_INFINITY) return 'inf'
  if (stored === Number.NEGATIVE_INFINITY) return '-inf'
  if (Object.is(stored, -0)) return '-0'
  return String(stored)
}

/**
 * The value of the text `text` of an element of `type`.
 * @throws {CorruptError} The text is not an element of the type (`where` names it in the message).
 */
export function decodeElement(type: ElementType, text: unknown, where: string): number | bigint | boolean {
  if (typeof text === 'string') {
    switch (type.family) {
      case 'int': {
        const value = INTEGER.test(text) ? Number(text) : Number.NaN
        if (value >= (type.min as number) && value <= (type.max as number)) return value === 0 ? 0 : value
        break
      }
      case 'bigint': {
        if (!INTEGER.test(text)) break
        const value = BigInt(text)
        if (value >= (type.min as bigint) && value <= (type.max as bigint)) return value
        break
      }
      case 'float': {
        let value: number | undefined
        if (text === 'nan') value = Number.NaN
        else if (text === 'inf') value = Number.POSITIVE_INFINITY
        else if (text === '-inf') value = Number.NEGATIVE_INFINITY
        else if (FLOAT.test(text) && text.length <= 40) value = Number(text)
        if (value !== undefined) return type.name === 'float32' ? Math.fround(value) : value
        break
      }
      default:
        if (text === '0' || text === '1') return text === '1'
    }
  }
  const shown = typeof text === 'string' ? JSON.stringify(text.slice(0, 60)) : typeof text
  throw new CorruptError(`${where} on the Redis server is not a valid ${type.name}: received ${shown}`)
}
