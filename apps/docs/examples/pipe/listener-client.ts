// Unrelated processes: a Listener waits at an address; a Client that knows
// only the address connects, and both ends get a Connection.
import { currentProcess, Process } from '@ipc/core'
import { Client, Listener } from '@ipc/pipe'

// #region main
/** Runs in another process that received nothing but the address string. */
export async function client(address: string): Promise<void> {
  const connection = await Client(address)
  await connection.send({ from: 'client', text: 'hello, server' })
  const reply = await connection.recv()
  await connection.send({ from: 'client', text: `you said "${reply}"` })
  connection.close()
}

async function main(): Promise<void> {
  // A local name (a socket only this user can reach); 'tcp://127.0.0.1:0' for other machines.
  const listener = new Listener(`docs-greeter-${process.pid}`)
  const child = new Process(new URL(import.meta.url), {
    exportName: 'client',
    args: [listener.address],
  })
  child.start()

  const connection = await listener.accept()
  console.log(await connection.recv())
  await connection.send('welcome')
  console.log(await connection.recv())

  console.log(`client exited with code ${await child.join()}`)
  connection.close()
  listener.close()
}
// #endregion main

// Only the parent runs main(): a child imports this file too, to find its function.
if (!currentProcess().isChild) {
  await main()
}
