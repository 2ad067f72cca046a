import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { jsonArrayOf } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { CorruptError } from '../errors.js'
import { decodeUntrusted, TAG_JSON_LATIN1, TAG_JSON_UTF8 } from './codec.js'
import { HEAP_FLOOR, heapBudget } from './heap-budget.js'
import { scanJson } from './json-scan.js'

/** The V8 heap in use after a full GC (the test process gets `gc` through the flag, as `--expose-gc` would give it). */
function heapAfterGc(): number {
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
  return process.memoryUsage().heapUsed
}

/** The `i`th three-char key of chars 'A' to '~' but the backslash (no digit: never an index). */
function threeChars(i: number): string {
  const chars = Array.from({ length: 0x7f - 0x41 }, (_, c) => String.fromCharCode(0x41 + c)).filter((c) => c !== '\\')
  const n = chars.length
  return `${chars[i % n]}${chars[Math.floor(i / n) % n]}${chars[Math.floor(i / n / n) % n]}`
}

/** Objects of index keys 0 … n - 2, then `last`: `JSON.parse` gives each a fast store of `last + 1` slots. */
function indexKeys(n: number, last: number): string {
  return `{${[...Array.from({ length: n - 1 }, (_, i) => i), last].map((k) => `"${k}":0`).join(',')}}`
}

describe('decodeUntrusted() of JSON text', () => {
  it('refuses 1,000,000 empty objects (3 MB of text, 64 MB once parsed), heap unchanged', () => {
    const bytes = jsonArrayOf(1_000_000, '{}')
    const before = heapAfterGc()
    expect(() => decodeUntrusted(TAG_JSON_LATIN1, bytes, 0, bytes.length)).toThrow(
      /its JSON value is refused \(it would take more than 16 bytes of heap per byte plus 1048576: 49048592 for its 3000001 bytes\)/,
    )
    expect(heapAfterGc() - before).toBeLessThan(HEAP_FLOOR)
  })

  it.each([
    ['[[]] nested', '[[]]', 1_000_000],
    ['objects of index keys 0 … 31, then 574 (a store of 575 slots)', indexKeys(33, 574), 20_000],
    ['objects of one index key 1023 (a dictionary)', '{"1023":0}', 500_000],
  ])('refuses %s past the budget, heap unchanged', (_name, item, count) => {
    const bytes = jsonArrayOf(count, item)
    const before = heapAfterGc()
    expect(() => decodeUntrusted(TAG_JSON_UTF8, bytes, 0, bytes.length)).toThrow(/more than 16 bytes of heap per byte/)
    expect(heapAfterGc() - before).toBeLessThan(HEAP_FLOOR)
  })

  it('takes ordinary JSON, and revives what JSON.parse revives', () => {
    const values = [
      Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: `user ${i}`, tags: ['a', 'b'], score: i / 3 })),
      Array.from({ length: 50_000 }, () => ({ 1: 'a', 2: 'b' })),
      { 2024: { jan: 1 }, 2025: { feb: 2 }, nested: { deeper: [[1, [2, [3]]]] } },
      { text: 'ü€😀\n\t"\\'.repeat(100), empty: {}, list: [], n: [-0, 1e300, -1.5e-7, 123456789012] },
    ]
    for (const value of values) {
      const text = JSON.stringify(value)
      const bytes = Buffer.from(text, 'utf8')
      expect(decodeUntrusted(TAG_JSON_UTF8, bytes, 0, bytes.length)).toEqual(JSON.parse(text))
    }
  })

  it('charges at least the heap JSON.parse takes, and less than the budget for ordinary shapes', () => {
    const shapes: [string, Buffer, boolean][] = [
      ['{}', jsonArrayOf(100_000, '{}'), false],
      ['[[]]', jsonArrayOf(100_000, '[[]]'), false],
      ['{"1023":0}', jsonArrayOf(50_000, '{"1023":0}'), false],
      ['{"23":0}', jsonArrayOf(20_000, '{"23":0}'), false],
      ['index keys 0 … 31, 574', jsonArrayOf(2000, indexKeys(33, 574)), false],
      ['{"1":0,"2":0}', jsonArrayOf(100_000, '{"1":0,"2":0}'), true],
      [
        'records',
        Buffer.from(JSON.stringify(Array.from({ length: 50_000 }, (_, i) => ({ id: i, name: `n${i}`, v: [1.5, 2] })))),
        true,
      ],
      [
        'distinct keys',
        Buffer.from(JSON.stringify(Array.from({ length: 50_000 }, (_, i) => ({ [`k${i}`]: i })))),
        true,
      ],
      [
        '200,000 objects of a distinct three-char key each',
        Buffer.from(`[${Array.from({ length: 200_000 }, (_, i) => `{"${threeChars(i)}":0}`).join(',')}]`),
        false,
      ],
      [
        '100,000 records {id, name, values: [1, 2, 3]}',
        Buffer.from(
          JSON.stringify(
            Array.from({ length: 100_000 }, (_, i) => ({ id: i, name: `n${i % 100}`, values: [1, 2, 3] })),
          ),
        ),
        true,
      ],
      [
        'one object of 10,000 distinct keys',
        Buffer.from(JSON.stringify(Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`key${i}`, i])))),
        true,
      ],
      ['strings', Buffer.from(JSON.stringify(Array.from({ length: 100_000 }, (_, i) => `string ${i} é€`))), true],
    ]
    for (const [name, bytes, ordinary] of shapes) {
      const estimate = scanJson(bytes, 0, bytes.length, 'utf8', Number.MAX_SAFE_INTEGER)
      const text = bytes.toString('utf8')
      const before = heapAfterGc()
      const parsed = JSON.parse(text)
      const taken = heapAfterGc() - before
      expect(parsed, name).toBeDefined()
      expect(taken, name).toBeLessThanOrEqual(estimate)
      if (ordinary) expect(estimate, name).toBeLessThan(heapBudget(bytes.length))
    }
  })

  it('counts a key written with escapes as the index it names', () => {
    const plain = jsonArrayOf(2000, '{"1023":0}')
    const escaped = jsonArrayOf(2000, '{"\\u0031\\u0030\\u0032\\u0033":0}')
    const estimate = scanJson(plain, 0, plain.length, 'latin1', Number.MAX_SAFE_INTEGER)
    expect(scanJson(escaped, 0, escaped.length, 'latin1', Number.MAX_SAFE_INTEGER)).toBe(estimate)
  })

  it('refuses with CorruptError exactly the texts JSON.parse refuses', () => {
    const texts = [
      '',
      ' ',
      '{',
      '[1,]',
      '[1 2]',
      '{"a" 1}',
      '{"a":1,}',
      '{a:1}',
      '"\\x"',
      '"\\u12g4"',
      '"a\nb"',
      '01',
      '-',
      '1.',
      '.5',
      '1e',
      '1e+',
      'tru',
      'nulll',
      '[] []',
      '{"a":[}',
      '0',
      '-0.5e-3',
      ' [ 1 , { "a" : [ true , false , null ] } ] ',
      '"\\u00e9\\n\\"\\\\\\/"',
      '{"":0,"0":1,"01":2}',
      '[[[[[[[[]]]]]]]]',
    ]
    for (const text of texts) {
      const bytes = Buffer.from(text, 'latin1')
      let valid = true
      try {
        JSON.parse(text)
      } catch {
        valid = false
      }
      if (valid) expect(decodeUntrusted(TAG_JSON_LATIN1, bytes, 0, bytes.length), text).toEqual(JSON.parse(text))
      else expect(() => scanJson(bytes, 0, bytes.length, 'latin1'), text).toThrow(CorruptError)
    }
  })

  it('reads nesting 1,000,000 deep without recursion, and refuses it for its heap (56 bytes a level, 2 bytes of text)', () => {
    const bytes = Buffer.from(`${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`)
    expect(scanJson(bytes, 0, bytes.length, 'latin1', Number.MAX_SAFE_INTEGER)).toBe(56_000_000 - 8)
    expect(() => decodeUntrusted(TAG_JSON_LATIN1, bytes, 0, bytes.length)).toThrow(
      /more than 16 bytes of heap per byte/,
    )
  })
})
