/**
 * The names an options object may hold. A name no call knows (`maxSize` for
 * `maxsize`, `timout`) would otherwise be ignored in silence, and the call
 * would run with the default (no limit, no timeout): like Python's keyword
 * arguments, it is a TypeError instead, which names the nearest known option.
 */
import { invalidArgType, invalidArgValue } from './errors.js'

declare const optionsType: unique symbol

/**
 * A set of option names whose type carries the names `K` (contravariantly): a
 * set stands in for one with fewer names, never for one with more.
 */
export interface NameSet<K extends string> extends ReadonlySet<string> {
  readonly [optionsType]: (name: K) => void
}

/**
 * The option names of one options type `T` (built by `optionNames<T>`). The
 * checks infer the options' type from the options alone (`NoInfer`), so
 * checking them against a set that lacks one of their names (which would
 * refuse a valid option at run time) is a compile error.
 */
export type OptionNames<T extends object> = NameSet<keyof T & string>

/**
 * The option names of an options interface `T`: the object literal must list
 * every name of `T` and no other (the compiler checks both), so the set
 * cannot drift from the type.
 * @example optionNames<WaitOptions>({ timeout: true, signal: true })
 */
export function optionNames<T extends object>(names: { readonly [K in keyof T & string]-?: true }): OptionNames<T> {
  return new Set(Object.keys(names)) as unknown as OptionNames<T>
}

/**
 * Throws ERR_INVALID_ARG_VALUE when `options` (an object) has an enumerable
 * name, own or inherited, that is not in `known`. `what` names the object in
 * the message ('options', '"create" option'). A name inherited from
 * `Object.prototype` (set there by some other code) is not the caller's: it
 * is ignored, or every call with options would throw.
 */
export function checkOptionNames<T extends object>(options: T, known: NoInfer<OptionNames<T>>, what = 'options'): void {
  for (const name in options)
    if (!known.has(name) && !fromObjectPrototype(options, name)) throw unknownOption(name, known, what)
}

/**
 * Validates that `options` is undefined or an object whose option names are
 * in `names` (the options of a constructor, of `open`, of a call). `what`
 * names it in messages ('options', '"create" option').
 */
export function checkOptionsObject<O extends object>(
  options: O | undefined,
  names: NoInfer<OptionNames<O>>,
  what = 'options',
): void {
  if (options === undefined) return
  if (typeof options !== 'object' || options === null)
    throw invalidArgType(`The ${what} must be an object, received ${options === null ? 'null' : typeof options}`)
  checkOptionNames(options, names, what)
}

/** True when the object `name` comes from is Object.prototype itself. */
function fromObjectPrototype(options: object, name: string): boolean {
  let owner: object | null = options
  while (owner !== null && !Object.hasOwn(owner, name)) owner = Object.getPrototypeOf(owner) as object | null
  return owner === Object.prototype
}

function unknownOption(name: string, known: ReadonlySet<string>, what: string): TypeError {
  const nearest = nearestName(name, known)
  const hint = nearest === undefined ? '' : ` Did you mean "${nearest}"?`
  const list = [...known].map((option) => `"${option}"`).join(', ')
  return invalidArgValue(
    `Unknown option "${name}" in the ${what}.${hint} ${list === '' ? 'It takes no options.' : `Known: ${list}.`}`,
  )
}

/** The known name closest to `name`: the same but for case, or at most 2 edits away (the closest, first if tied). */
function nearestName(name: string, known: ReadonlySet<string>): string | undefined {
  let best: string | undefined
  let bestDistance = 3
  for (const option of known) {
    const distance = option.toLowerCase() === name.toLowerCase() ? 0 : editDistance(option, name, bestDistance)
    if (distance < bestDistance) {
      best = option
      bestDistance = distance
    }
  }
  return best
}

/** Levenshtein distance of `a` and `b`, or `limit` when it is at least `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1)
      current[j] = Math.min(substitution, (previous[j] as number) + 1, (current[j - 1] as number) + 1)
    }
    previous = current
  }
  return Math.min(previous[b.length] as number, limit)
}
