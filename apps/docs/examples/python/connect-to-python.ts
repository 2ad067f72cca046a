// A Python process is the server: a Node Client connects to Python's own
// multiprocessing.connection.Listener.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Client } from '@ipc/pipe'

// #region main
const authkey = 'docs-example-key'
const python = spawn('python3', [fileURLToPath(new URL('./listener.py', import.meta.url))], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, AUTHKEY: authkey },
})
// The Python listener prints the port it got.
const [port] = (await once(createInterface({ input: python.stdout }), 'line')) as [string]

const conn = await Client(`tcp://127.0.0.1:${port}`, { codec: 'pickle', authkey })
await conn.send({ n: 12 })
console.log(await conn.recv())
await conn.send({ n: 2n ** 40n }) // a bigint is a Python int
console.log(await conn.recv()) // an int past 2^53 comes back as a bigint
conn.close() // Python's recv() raises EOFError and the listener ends

const [code] = await once(python, 'exit')
console.log(`python exited with code ${code}`)
// #endregion main
