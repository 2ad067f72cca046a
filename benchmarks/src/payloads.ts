/**
 * The message kinds of the issue. Every implementation sends these exact values (see
 * `children/lib.mjs` and `python/common.py`); `bytes` is the nominal payload size used
 * to turn msg/s into MB/s (the UTF-8 / JSON length for strings and objects).
 */
export interface Payload {
  kind: 'string' | 'object' | 'buffer64k'
  label: string
  bytes: number
}

export const PAYLOADS: Payload[] = [
  { kind: 'string', label: 'small strings "msg-12345"', bytes: 9 },
  { kind: 'object', label: 'small objects {id, name, values: [1, 2, 3]}', bytes: 49 },
  { kind: 'buffer64k', label: '64 KiB Buffers', bytes: 65536 },
]

export function payload(kind: Payload['kind']): Payload {
  return PAYLOADS.find((p) => p.kind === kind) as Payload
}
