// A Python process is the client: it connects to a Node Listener with Python's
// own multiprocessing.connection.Client and talks in pickles.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { DataCloneError, Listener } from '@ipc/pipe'

// #region main
// In real life the key comes from the environment or a secret store.
const authkey = 'docs-example-key'
// codec: 'pickle' speaks CPython's wire: its framing, its authentication, pickled values.
const listener = new Listener('tcp://127.0.0.1:0', { codec: 'pickle', authkey })
const port = listener.address.split(':').at(-1) as string

const python = spawn('python3', [fileURLToPath(new URL('./client.py', import.meta.url)), port], {
  stdio: 'inherit',
  env: { ...process.env, AUTHKEY: authkey },
})

const conn = await listener.accept()
const job = (await conn.recv()) as { id: number; values: number[]; tags: string[] }
console.log('node got', job) // a dict with str keys arrives as a plain object, a tuple as an Array
const total = job.values.reduce((sum, n) => sum + n, 0)
await conn.send({ id: job.id, total, big: 2n ** 64n, seen: new Set(job.tags) })

const raw = await conn.recvBytes() // Python's send_bytes()
console.log('node got bytes', Buffer.from(raw).toString('hex'))

try {
  await conn.recv() // Python sent a datetime: not plain data
} catch (error) {
  if (!(error instanceof DataCloneError)) throw error
  console.log('node refused:', error.name)
}
console.log('node got', await conn.recv()) // the connection goes on

const code = await new Promise((resolve) => python.on('exit', resolve))
console.log(`python exited with code ${code}`)
conn.close()
listener.close()
// #endregion main
