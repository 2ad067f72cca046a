import { describe, expect, it } from 'vitest'
import { type LoadFailure, nativeLoadErrorMessage, PLATFORMS_URL } from './native.js'

const notFound =
  'No native build was found for platform=linux arch=x64 runtime=node abi=115 uv=1 libc=glibc node=20.20.2'

/** A failed load on `platform`-`arch`: no local build, no prebuild for this platform. */
function failure(platform: string, arch: string, glibc: string | undefined, more: Partial<LoadFailure> = {}) {
  return {
    platform,
    arch,
    glibc,
    node: 'v20.20.2',
    napi: '9',
    dir: '/app/node_modules/@ipc/core/native',
    prebuilds: ['linux-arm64/ipc-core-native.glibc.node', 'linux-x64/ipc-core-native.glibc.node'],
    builds: [],
    reason: notFound,
    code: undefined,
    picked: undefined,
    ...more,
  }
}

describe('nativeLoadErrorMessage()', () => {
  it.each([
    ['darwin', 'arm64', 'macOS (darwin-arm64)'],
    ['darwin', 'x64', 'macOS (darwin-x64)'],
    ['win32', 'x64', 'Windows (win32-x64)'],
    ['freebsd', 'x64', 'freebsd (freebsd-x64)'],
  ])('names %s-%s, says it is not supported yet and links the platforms page', (platform, arch, name) => {
    const { message, supported } = nativeLoadErrorMessage(failure(platform, arch, undefined))
    expect(supported).toBe(false)
    expect(message).toBe(
      `Cannot load the @ipc/core native addon: ${name} is not supported yet. ` +
        '@ipc runs on Linux (linux-x64 and linux-arm64 with glibc 2.34 or later): it needs /dev/shm and futexes. ' +
        `The platforms page says what macOS and Windows would need and where that stands: ${PLATFORMS_URL}`,
    )
  })

  it('names musl (no glibc) as not supported yet, links the page and offers a build from a clone', () => {
    const { message, supported } = nativeLoadErrorMessage(failure('linux', 'x64', undefined))
    expect(supported).toBe(false)
    expect(message).toMatch(
      /^Cannot load the @ipc\/core native addon for linux-x64 musl \(no glibc\), Node v20\.20\.2, napi 9: Linux with musl libc \(linux-x64, no glibc found, as on Alpine\) is not supported yet/,
    )
    expect(message).toContain(`Status and plans: ${PLATFORMS_URL}`)
    expect(message).toContain('pnpm --filter @ipc/core build:native')
    expect(message).not.toContain('Possible solutions')
  })

  it.each([
    ['ppc64', 'linux-ppc64'],
    ['arm', 'linux-arm'],
    ['s390x', 'linux-s390x'],
    ['riscv64', 'linux-riscv64'],
  ])('names linux-%s with glibc as not supported yet', (arch, here) => {
    const { message, supported } = nativeLoadErrorMessage(failure('linux', arch, '2.36'))
    expect(supported).toBe(false)
    expect(message).toContain(
      `: ${here} is not supported yet: prebuilds exist for linux-x64 and linux-arm64 only\nLooked in: /app/node_modules/@ipc/core/native/build/Release (nothing)`,
    )
    expect(message).toContain(PLATFORMS_URL)
  })

  it('says that a glibc older than 2.34 is not supported yet, with the reason the loader gave', () => {
    const picked = '/app/node_modules/@ipc/core/native/prebuilds/linux-arm64/ipc-core-native.glibc.node'
    const reason = "/lib/aarch64-linux-gnu/libc.so.6: version `GLIBC_2.34' not found"
    const { message, supported } = nativeLoadErrorMessage(failure('linux', 'arm64', '2.31', { picked, reason }))
    expect(supported).toBe(false)
    expect(message).toContain(
      `glibc 2.31 is older than 2.34, which the bundled linux-arm64 prebuild needs: not supported yet\n${picked} failed to load: ${reason}`,
    )
    expect(message).toContain(PLATFORMS_URL)
  })

  it.each([
    ['x64', '2.34'],
    ['arm64', '2.36'],
    ['arm64', '2.40'],
  ])('on linux-%s glibc %s (supported) says what is missing and how to fix it', (arch, glibc) => {
    const { message, supported } = nativeLoadErrorMessage(failure('linux', arch, glibc, { prebuilds: [] }))
    expect(supported).toBe(true)
    expect(message).toMatch(
      new RegExp(`^Cannot load the @ipc/core native addon for linux-${arch} glibc ${glibc}, Node v20.20.2, napi 9: `),
    )
    expect(message).toContain('this copy of @ipc/core has no prebuilt binary')
    expect(message).toContain('Possible solutions:')
    expect(message).toContain('bundle two prebuilds: linux-x64 and linux-arm64 with glibc 2.34 or later')
    expect(message).not.toContain('not supported yet')
  })

  it('names the prebuilds a copy bundles when none matches a supported platform', () => {
    const { message } = nativeLoadErrorMessage(
      failure('linux', 'arm64', '2.36', { prebuilds: ['linux-x64/ipc-core-native.glibc.node'] }),
    )
    expect(message).toContain(
      'no bundled prebuild matches linux-arm64 glibc; this copy bundles linux-x64/ipc-core-native.glibc.node',
    )
  })

  it('says when node-gyp-build itself is missing', () => {
    const { message } = nativeLoadErrorMessage(
      failure('linux', 'x64', '2.36', { code: 'MODULE_NOT_FOUND', reason: "Cannot find module 'node-gyp-build'" }),
    )
    expect(message).toContain(': its dependency node-gyp-build is not installed\n')
  })
})
