// Ours, as the echo peer of a Python process: `node python-echo.mjs PORT` connects to
// the Python benchmark's multiprocessing.connection.Listener on 127.0.0.1:PORT with
// `Client(…, { codec: 'pickle', authkey })` (the key in IPC_BENCH_AUTHKEY) and sends
// back every value it receives until the Python side closes. Started by
// python/pipe_bench.py (mode "tcp-rtt", echo "node"), not by the harness.
import { importOurs } from './lib.mjs'

const { Client, EOFError } = await importOurs('@ipc/pipe')
const conn = await Client(`tcp://127.0.0.1:${process.argv[2]}`, {
  codec: 'pickle',
  authkey: process.env.IPC_BENCH_AUTHKEY,
})
for (;;) {
  let message
  try {
    message = await conn.recv()
  } catch (error) {
    if (error instanceof EOFError) break
    throw error
  }
  await conn.send(message)
}
conn.close()
