// Node makes a block of shared memory; Python maps the same bytes by name.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { SharedMemory } from '@ipc/shared'

// #region main
// raw: no @ipc header, the name used as is: Python's SharedMemory(name=...) finds it.
const shm = SharedMemory.create({ size: 4 * 8, name: `docs-prices-${process.pid}`, raw: true })
const prices = new Float64Array(shm.buf.buffer, shm.buf.byteOffset, 4)
prices.set([1.5, 2.25, 4, 0])

const python = spawn('python3', [fileURLToPath(new URL('./shared_memory.py', import.meta.url)), shm.name], {
  stdio: 'inherit',
})
const [code] = await once(python, 'exit')
console.log(`python exited with code ${code}; it wrote the total: ${prices[3]}`)
shm.close() // the creator's close unlinks the name (persistent: true keeps it)
// #endregion main
