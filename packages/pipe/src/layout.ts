/**
 * The shared-memory layout of a pipe: the data area of an @ipc/core segment
 * of kind 'pipe' (it starts at `segment.dataOffset`; offsets below are from
 * there, little-endian). Each Connection object attaches its own Segment
 * object, so each has its own slot in the segment's attached-process table.
 *
 * | offset | size  | field        | written by                        | meaning                                                    |
 * |--------|-------|--------------|-----------------------------------|------------------------------------------------------------|
 * | 0      | 4     | magic        | creator (init)                    | 0x45504950 ('PIPE')                                         |
 * | 4      | 4     | flags        | creator (init)                    | bit 0: duplex                                               |
 * | 8      | 4     | capacity     | creator (init)                    | record bytes of each ring (a power of two)                  |
 * | 12     | 4     | closedEnds   | whoever finds an end closed       | bit e: end e is closed for good (Atomics.or)                |
 * | 64     | 128   | slotEnd      | each attacher, its own slot's byte | end held through segment slot s: 0 none, 1 end 0, 2 end 1 |
 * | 192    | 512   | reservations | reserver, claimer, expirer (CAS)  | 16 × 32 bytes, see below                                    |
 * | 1024   | R     | ring 0       | see @ipc/core spsc-ring.ts         | messages to end 0 (sent by end 1)                           |
 * | 1024+R | R     | ring 1       | see @ipc/core spsc-ring.ts         | messages to end 1 (sent by end 0); duplex pipes only        |
 *
 * R = SPSC_HEADER_BYTES (192) + capacity. So end e receives on ring e and
 * sends on ring 1 - e; a one-way pipe has ring 0 only (end 0 receives).
 *
 * An end is open while (a) a live segment slot has `slotEnd` = e + 1, or
 * (b) a live reservation for e exists. When neither holds, whoever notices
 * (the closer, or a peer whose bounded sleep timed out) sets bit e of
 * `closedEnds`, then closes ring e's reader and ring 1 - e's writer, which
 * wakes the peer: it reads what is left, then gets EOFError / BrokenPipeError.
 * A slot is live while its process runs (pid + start time), so a SIGKILLed
 * holder stops holding at once; the survivor notices within PEER_CHECK_MS
 * (100 ms, @ipc/core's one dead-peer policy: its waits sleep at most that
 * long before they look).
 *
 * A reservation keeps an end open while it travels to another process
 * (`[TRANSFER]`, used by `Process`): the sender may close its own copy right
 * after starting the child. Entry (32 bytes):
 *
 * | offset | size | field     | meaning                                                       |
 * |--------|------|-----------|---------------------------------------------------------------|
 * | 0      | 4    | token     | 0 free, -1 being written, > 0 live (the handle carries it)     |
 * | 4      | 4    | end       | the end it keeps open                                          |
 * | 8      | 4    | pid       | the reserving process: the reservation dies with it            |
 * | 16     | 8    | startTime | f64, of that process (pid reuse check)                         |
 * | 24     | 8    | expiresAt | f64, Date.now() after which it is void (RESERVATION_TTL)       |
 *
 * The reserver allocates an entry (CAS token 0 → -1, fields, then token);
 * the claimer first stores its `slotEnd`, then CASes the token to 0, so the
 * end is held throughout; a reader looks at the slots, the reservations, then
 * the slots again, so that it sees the holder across a claim or a transfer
 * made while it looks (`PipeEnd#endHeld`).
 *
 * Records in the rings (the meta word of an spsc-ring record; the ring checks
 * lengths and positions, pipe-end.ts `#checkRecord` checks the rest):
 *
 * | record  | meta                                       | length          | payload                           |
 * |---------|--------------------------------------------|-----------------|-----------------------------------|
 * | message | tag (1…TAG_MAX)                            | payload bytes   | the codec payload                 |
 * | HEAD    | tag + META_HEAD                            | 8               | f64 total: an integer over one record's maxPayload |
 * | CHUNK   | tag + META_CHUNK + sequence << CHUNK_SHIFT | chunkSize, or the rest for the last | the next piece     |
 * | CANCEL  | META_CANCEL                                | 0               | none: drop the chunked message begun (its sender gave up) |
 *
 * A chunked message is HEAD, then CHUNKs numbered 0, 1, 2… (mod 2^21) of
 * `capacity / 4` bytes, the last one shorter. Anything else (an unknown tag
 * or flag, a wrong length, a sequence gap, a total that is not an integer)
 * is corrupt. A total over the receiver's `maxMessageSize` is refused with
 * MessageTooLongError before anything is allocated, and its chunks are
 * skipped. CHUNKs with no HEAD before them (what is left of a message its
 * receiver refused or gave up on) are skipped.
 */

/** 'PIPE' */
export const MAGIC = 0x45504950
/**
 * Layout version; opening a pipe of another version throws IncompatibleError.
 * 3: the rings' waiters counts and closed flags moved to their first cache line, with writerNeed
 * (core's spsc-ring.ts), and messages may carry codec tag 8 (packed plain data).
 * 4: a ring's producer may publish head with a plain store and its consumer fences remotely
 * before it sleeps, unless the ring's `atomicPublish` word is set (core's spsc-ring.ts): a
 * version-3 consumer would not fence.
 * 5: each ring side raises a sleep epoch when it registers to sleep, and the other side skips
 * the wake syscall for a side woken already (core's spsc-ring.ts): a version-4 side would not
 * raise it, and would be woken only at the end of its sleep slices.
 */
export const LAYOUT_VERSION = 5
/** The segment kind of a pipe. */
export const PIPE_KIND = { kind: 'pipe', version: LAYOUT_VERSION, label: 'pipe' } as const

export const W_MAGIC = 0
export const W_FLAGS = 1
export const W_CAPACITY = 2
export const W_CLOSED_ENDS = 3
export const FLAG_DUPLEX = 1

export const SLOT_END_OFFSET = 64
export const RESERVATIONS_OFFSET = 192
export const RESERVATION_COUNT = 16
export const RESERVATION_BYTES = 32
export const RINGS_OFFSET = 1024

/** How long a reservation waits to be claimed, in ms. */
export const RESERVATION_TTL = 60_000

export const META_TAG = 0xff
export const META_HEAD = 0x100
export const META_CHUNK = 0x200
export const META_CANCEL = 0x400
/** A CHUNK's sequence number sits in meta bits 11…31. */
export const CHUNK_SHIFT = 11
export const CHUNK_SEQUENCE_MASK = 0x1fffff

export const DEFAULT_CAPACITY = 256 * 1024
export const MIN_CAPACITY = 4096
export const MAX_CAPACITY = 2 ** 30
