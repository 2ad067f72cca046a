/**
 * How every publishable package is built (each `tsup.config.ts` passes its
 * entries): ES module and CommonJS builds for Node 20, with types and source
 * maps, one self-contained file per entry.
 *
 * The CommonJS build's exports are plain read-only values. esbuild makes
 * them getters (to mimic the live bindings of an ES module), and every getter
 * runs the same `from[key]` with its own key, a load V8 finds megamorphic. A
 * package that uses another's export on a hot path (the queue's
 * `MPMC_PUT_OK`, from `@ipc/core/internal`) compiles to
 * `import_internal.MPMC_PUT_OK` at each use, so it paid that lookup on every
 * call: a `putSync` + `getSync` took 216 ns from the CommonJS build against
 * 137 ns from the ES module one, and 131 ns with the footer below
 * (benchmarks/experiments/cjs-vs-esm.mjs, 2026-12-04). The footer replaces
 * `module.exports`, once the module has run, with an object holding the
 * values. That is sound because no package exports a binding it reassigns
 * later. scripts/pack-smoke.mjs checks the installed tarballs' exports (the
 * ES module's names, plain read-only values) and refuses `export let` and
 * `export var` in the sources; it does not see `let x; export { x }`.
 */
import type { Format, Options } from 'tsup'

const PLAIN_EXPORTS = `
module.exports = ((built) => {
  const plain = Object.defineProperty({}, '__esModule', { value: true })
  for (const key of Object.keys(built)) Object.defineProperty(plain, key, { value: built[key], enumerable: true })
  return plain
})(module.exports)
`

/** The tsup options of a package whose entries are `entry` (name → source file). */
export function packageBuild(entry: Record<string, string>): Options {
  return {
    entry,
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    platform: 'node',
    target: 'node20',
    shims: true,
    splitting: false,
    footer: ({ format }: { format: Format }) => (format === 'cjs' ? { js: PLAIN_EXPORTS } : undefined),
  }
}
