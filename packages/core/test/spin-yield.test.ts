import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const fixture = new URL('./fixtures/spsc-one-cpu.mjs', import.meta.url).pathname
const taskset = ['/usr/bin/taskset', '/bin/taskset'].find((path) => existsSync(path))

describe('the adaptive spin on a CPU shared with the peer', () => {
  // Before the spin yielded its CPU, a peer on the same CPU could not run while the
  // waiter spun: most round trips ended in a futex sleep (1266 of 2000 in one run), and
  // the spin soon gave up spinning. With the yields, 4 of 2000. Another process busy on
  // CPU 0 takes the yielded CPU for its whole slice, so the best of up to 3 runs counts.
  it.skipIf(taskset === undefined)(
    'lets the peer answer within the spin: most sync round trips never sleep',
    {
      timeout: 120_000,
    },
    async () => {
      let best = Number.POSITIVE_INFINITY
      for (let attempt = 0; attempt < 3 && best >= 500; attempt++) {
        const { stdout } = await run(taskset as string, ['-c', '0', process.execPath, fixture], { timeout: 35_000 })
        const { rounds, slept } = JSON.parse(stdout.trim().split('\n').at(-1) as string)
        expect(rounds).toBe(2000)
        best = Math.min(best, slept)
      }
      expect(best).toBeLessThan(500)
    },
  )
})
