import { Semaphore, Lock } from '@ipc/semaphore'
const s = new Semaphore(1)
const l = new Lock()
const N = 5e6
function run(name, f) { f(); const t = performance.now(); f(); console.log(name, ((performance.now() - t) * 1e6 / N).toFixed(1), 'ns/op') }
run('sem sync', () => { for (let i = 0; i < N; i++) { s.acquireSync(); s.release() } })
run('sem try', () => { for (let i = 0; i < N; i++) { s.tryAcquire(); s.release() } })
run('lock sync', () => { for (let i = 0; i < N; i++) { l.acquireSync(); l.release() } })
const i32 = new Int32Array(new SharedArrayBuffer(64))
run('raw cas x2 + load', () => { for (let i = 0; i < N; i++) { const a = Atomics.compareExchange(i32, 1, 0, 513); i32[2] = 1; i32[1] = 0; Atomics.compareExchange(i32, 1, 0, 513); i32[2] = 0; i32[1] = 0; Atomics.load(i32, 3) } })
s.close(); l.close()
