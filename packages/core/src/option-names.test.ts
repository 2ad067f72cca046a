import { describe, expect, it } from 'vitest'
import { checkOptionNames, optionNames } from './option-names.js'

interface ShapeOptions {
  maxsize?: number
  capacity?: number
  persistent?: boolean
}

const SHAPE = optionNames<ShapeOptions>({ maxsize: true, capacity: true, persistent: true })

function messageOf(options: object): string {
  try {
    checkOptionNames(options as ShapeOptions, SHAPE)
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError)
    expect((error as { code?: string }).code).toBe('ERR_INVALID_ARG_VALUE')
    return (error as Error).message
  }
  throw new Error('Expected the options to be refused')
}

describe('optionNames()', () => {
  it('holds the names of the interface', () => {
    expect([...SHAPE]).toEqual(['maxsize', 'capacity', 'persistent'])
  })

  it('is checked by the compiler against the interface', () => {
    // @ts-expect-error a name is missing
    optionNames<ShapeOptions>({ maxsize: true, capacity: true })
    // @ts-expect-error a name the interface does not have
    optionNames<ShapeOptions>({ maxsize: true, capacity: true, persistent: true, name: true })
  })

  it('cannot check options against a set that lacks one of their names, even an optional one', () => {
    const fewer = optionNames<Omit<ShapeOptions, 'persistent'>>({ maxsize: true, capacity: true })
    const options: ShapeOptions = { persistent: true }
    // @ts-expect-error the set of a type with fewer names would refuse a valid option at run time
    expect(() => checkOptionNames(options, fewer)).toThrow(/Unknown option "persistent"/)
    // A set with more names is only more lenient: it compiles.
    checkOptionNames({ maxsize: 1 } as Omit<ShapeOptions, 'persistent'>, SHAPE)
    // @ts-expect-error a plain Set says nothing of the names it holds
    expect(() => checkOptionNames(options, new Set(['maxsize']))).toThrow(/Unknown option "persistent"/)
  })
})

describe('checkOptionNames()', () => {
  it('accepts the known names, and no names at all', () => {
    checkOptionNames({}, SHAPE)
    checkOptionNames({ maxsize: 3, capacity: undefined, persistent: false }, SHAPE)
  })

  it('refuses a misspelled name, naming the one meant', () => {
    expect(messageOf({ maxSize: 10 })).toBe(
      'Unknown option "maxSize" in the options. Did you mean "maxsize"? Known: "maxsize", "capacity", "persistent".',
    )
    expect(messageOf({ capacty: 64 })).toContain('Did you mean "capacity"?')
    expect(messageOf({ persistant: true })).toContain('Did you mean "persistent"?')
  })

  it('refuses a name far from any known one without a guess', () => {
    expect(messageOf({ lifetime: 5 })).toBe(
      'Unknown option "lifetime" in the options. Known: "maxsize", "capacity", "persistent".',
    )
  })

  it('refuses an unknown name even when its value is undefined, and an inherited one', () => {
    expect(messageOf({ maxsize: 1, maxSize: undefined })).toContain('"maxSize"')
    expect(messageOf(Object.create({ timeout: 5 }))).toContain('"timeout"')
  })

  it("ignores a name set on Object.prototype by other code (not the caller's), and only that", () => {
    const polluted = Object.prototype as Record<string, unknown>
    polluted.pollutedName = 1
    try {
      checkOptionNames({ maxsize: 1 }, SHAPE)
      expect(messageOf({ pollutedName: 2 })).toContain('"pollutedName"')
      expect(messageOf(Object.create({ pollutedName: 3 }))).toContain('"pollutedName"')
    } finally {
      delete polluted.pollutedName
    }
  })

  it('names what it checks, and says when a call takes no options', () => {
    const none = optionNames<Record<never, never>>({})
    try {
      checkOptionNames({ x: 1 } as Record<never, never>, none, '"create" option')
      throw new Error('not refused')
    } catch (error) {
      expect((error as Error).message).toBe('Unknown option "x" in the "create" option. It takes no options.')
    }
  })
})
