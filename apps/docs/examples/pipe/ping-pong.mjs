// Way 2, a Pipe: two ends, each can send to the other (duplex by default).
// The JavaScript twin of ping-pong.ts: runs with plain `node`.
// #region quick-start
import { currentProcess, Process } from '@ipc/core'
import { Pipe } from '@ipc/pipe'

// #region main
/** Runs in the child: answers every "ping N" with "pong N" until the parent hangs up. */
export async function ponger(connection) {
  for await (const message of connection) {
    await connection.send(message.replace('ping', 'pong'))
  }
}

async function main() {
  const [parentEnd, childEnd] = Pipe()
  const child = new Process(new URL(import.meta.url), { exportName: 'ponger', args: [childEnd] })
  child.start()

  for (let n = 1; n <= 3; n++) {
    await parentEnd.send(`ping ${n}`)
    console.log(`sent ping ${n}, received ${await parentEnd.recv()}`)
  }

  parentEnd.close() // the child's loop reads to the end (EOF) and stops
  console.log(`child exited with code ${await child.join()}`)
  childEnd.close()
}
// #endregion main

// Only the parent runs main(): a child imports this file too, to find its function.
if (!currentProcess().isChild) {
  await main()
}
// #endregion quick-start
