// A listener that strangers cannot disturb: a raw socket that sends garbage, a
// client with the wrong key and a silent socket are each dropped, and the
// `for await` loop goes on to serve the real client.
import { connect } from 'node:net'
import { AuthenticationError, Client, Listener } from '@ipc/pipe'

// #region main
const authkey = 'correct horse battery staple'
const listener = new Listener('tcp://127.0.0.1:0', {
  authkey,
  handshakeTimeout: 500, // ms a client has to prove it knows the key
  onHandshakeError: (error) => console.log(`dropped a stranger: ${error.name}`),
})
const port = Number(new URL(listener.address).port)

// The server: one loop, never ended by a failed handshake.
const served = (async () => {
  for await (const connection of listener) {
    console.log(`served: ${await connection.recv()}`)
    connection.close()
    break // one real client is all this example waits for
  }
})()

// 1. Garbage instead of a handshake.
await sendRaw(Buffer.from('GET / HTTP/1.1\r\n\r\n'))
// 2. A client with the wrong key: it is refused, and so is the listener to it.
try {
  await Client(listener.address, { authkey: 'guess' })
} catch (error) {
  if (error instanceof AuthenticationError) console.log('wrong key: AuthenticationError')
}
// 3. A socket that connects and says nothing, past handshakeTimeout.
await sendRaw(Buffer.alloc(0))
// 4. The real client.
const client = await Client(listener.address, { authkey })
await client.send('hello from the real client')
client.close()

await served
listener.close()
// #endregion main

/** Connects, writes `bytes`, and resolves once the listener has hung up. */
function sendRaw(bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes))
    socket.resume() // read (and ignore) what the listener says, so its hang-up is seen
    socket.on('error', () => {})
    socket.on('close', () => resolve())
  })
}
