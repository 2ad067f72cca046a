// Prepares a fresh clone on a machine with only Node.js and npm: installs
// pnpm 10 if it is missing, then the workspace's dependencies. Idempotent and
// quick when everything is already there. Used by `npm run demo` and `npm test`.
import { execSync, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const PNPM = '10.34.9'

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32', ...options })
  if (r.status !== 0) {
    // Output that was held back (stdio 'pipe') is shown now, with the failure.
    if (r.stdout) process.stdout.write(r.stdout)
    if (r.stderr) process.stderr.write(r.stderr)
    console.error(`setup: ${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`)
    process.exit(r.status ?? 1)
  }
}

function pnpmVersion() {
  try {
    return execSync('pnpm --version', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return undefined
  }
}

const have = pnpmVersion()
if (have === undefined || !have.startsWith('10.')) {
  console.log(`setup: installing pnpm ${PNPM} with npm (found ${have ?? 'none'})`)
  run('npm', ['install', '--global', `pnpm@${PNPM}`])
}

if (!existsSync(join(root, 'node_modules', '.modules.yaml')) || process.env.CI) {
  // Its output is shown only when it fails: a person wants the tests, not the install log.
  const started = Date.now()
  run('pnpm', ['install', '--frozen-lockfile'], {
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  console.log(`setup: the workspace's dependencies are installed (pnpm install, ${Date.now() - started} ms)`)
}
