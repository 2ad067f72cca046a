import { closeSync, openSync, readSync, writeSync } from 'node:fs'

/**
 * White box, for tests of a dead holder's slot: reads the owner word (core's
 * owner-word.ts: bit 30 WAITERS, bits 29–22 slot + 1, bits 21–0 tid) at
 * `byteOffset` of segment `name` through its file in /dev/shm, and writes
 * `code(slot)` in its place. Returns the slot it named; throws when it named
 * none (free or abandoned). Tests pass `(slot) => ownerCode(slot, threadId())`
 * to make the word name this thread, as a reused pid would.
 */
export function rewriteOwnerWord(name: string, byteOffset: number, code: (slot: number) => number): number {
  const word = Buffer.alloc(4)
  const fd = openSync(`/dev/shm/ipc-${name}`, 'r+')
  try {
    readSync(fd, word, 0, 4, byteOffset)
    const slotPlus1 = (word.readInt32LE(0) & ~(1 << 30)) >>> 22
    if (slotPlus1 === 0) throw new Error(`The owner word at ${byteOffset} of ${name} names no holder`)
    word.writeInt32LE(code(slotPlus1 - 1))
    writeSync(fd, word, 0, 4, byteOffset)
    return slotPlus1 - 1
  } finally {
    closeSync(fd)
  }
}
