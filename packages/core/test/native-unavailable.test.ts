/**
 * The load error of an installed copy of @ipc/core whose native addon is
 * missing or broken: it names what is missing and gives fixes that work from
 * node_modules. Each case lays out node_modules/@ipc/core in a temp project
 * (the built dist/, no native build) and runs a child that calls notify().
 */
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnChild } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'

const packageDir = fileURLToPath(new URL('..', import.meta.url))
const fixture = new URL('./fixtures/notify-from.mjs', import.meta.url)
const linuxX64 = process.platform === 'linux' && process.arch === 'x64'

interface Outcome {
  woken?: number
  name?: string
  code?: string
  message?: string
}

/** node_modules/@ipc/core with dist/ and package.json only; returns its native/ dir. */
function installedCopy(): { nativeDir: string; entry: string } {
  const project = mkdtempSync(join(tmpdir(), 'ipc-native-test-'))
  onTestFinished(() => rmSync(project, { recursive: true, force: true }))
  const copy = join(project, 'node_modules', '@ipc', 'core')
  mkdirSync(copy, { recursive: true })
  cpSync(join(packageDir, 'dist'), join(copy, 'dist'), { recursive: true })
  copyFileSync(join(packageDir, 'package.json'), join(copy, 'package.json'))
  const nodeGypBuild = dirname(createRequire(join(packageDir, 'package.json')).resolve('node-gyp-build/package.json'))
  symlinkSync(nodeGypBuild, join(project, 'node_modules', 'node-gyp-build'))
  return { nativeDir: join(copy, 'native'), entry: join(copy, 'dist', 'index.js') }
}

async function notifyFrom(entry: string): Promise<Outcome> {
  const child = spawnChild(fixture, [entry])
  const code = await child.exited
  expect(code, child.stderr()).toBe(0)
  return JSON.parse(child.stdout()) as Outcome
}

describe.skipIf(!linuxX64)('NativeUnavailableError of an installed copy (linux-x64)', () => {
  it('names the missing prebuilds, and the fixes: a complete tarball, or a build copied into node_modules', async () => {
    const { nativeDir, entry } = installedCopy()
    const outcome = await notifyFrom(entry)
    expect(outcome.name).toBe('NativeUnavailableError')
    expect(outcome.code).toBe('IPC_NATIVE_UNAVAILABLE')
    const message = outcome.message ?? ''
    expect(message).toMatch(/^Cannot load the @ipc\/core native addon for linux-x64 glibc [\d.]+, Node v\d+/)
    expect(message).toContain(`this copy of @ipc/core has no prebuilt binary (${join(nativeDir, 'prebuilds')}`)
    expect(message).toContain('the package was packed without its prebuilds')
    expect(message).toContain('Possible solutions:')
    expect(message).toContain('bundle two prebuilds: linux-x64 and linux-arm64 with glibc')
    expect(message).toContain('pnpm --filter @ipc/core build:native')
    expect(message).toContain(
      `cp packages/core/native/build/Release/ipc_core.node ${join(nativeDir, 'build', 'Release')}/`,
    )
    // The old advice pointed at a script that is not in the package.
    expect(message).not.toContain('scripts/build-native.mjs')
  })

  it('names the prebuilds it bundles when none matches this platform', async () => {
    const { nativeDir, entry } = installedCopy()
    mkdirSync(join(nativeDir, 'prebuilds', 'darwin-arm64'), { recursive: true })
    writeFileSync(join(nativeDir, 'prebuilds', 'darwin-arm64', 'ipc-core-native.node'), '')
    const outcome = await notifyFrom(entry)
    expect(outcome.code).toBe('IPC_NATIVE_UNAVAILABLE')
    expect(outcome.message).toContain(
      'no bundled prebuild matches linux-x64 glibc; this copy bundles darwin-arm64/ipc-core-native.node',
    )
  })

  it('names the prebuild that failed to load, and why', async () => {
    const { nativeDir, entry } = installedCopy()
    const prebuild = join(nativeDir, 'prebuilds', 'linux-x64', 'ipc-core-native.glibc.node')
    mkdirSync(dirname(prebuild), { recursive: true })
    writeFileSync(prebuild, 'not an ELF file')
    const outcome = await notifyFrom(entry)
    expect(outcome.code).toBe('IPC_NATIVE_UNAVAILABLE')
    expect(outcome.message).toContain(`${prebuild} failed to load: `)
    expect(outcome.message).toMatch(/invalid ELF header|file too short/)
  })

  it('loads once the build is copied where the message says', async () => {
    const { nativeDir, entry } = installedCopy()
    mkdirSync(join(nativeDir, 'build', 'Release'), { recursive: true })
    // The addon this checkout loads (its build/Release, or its prebuild after prebuildify).
    const nodeGypBuild = createRequire(join(packageDir, 'package.json'))('node-gyp-build') as {
      path(dir: string): string
    }
    copyFileSync(nodeGypBuild.path(join(packageDir, 'native')), join(nativeDir, 'build', 'Release', 'ipc_core.node'))
    expect(await notifyFrom(entry)).toEqual({ woken: 0 })
  })
})
