/** How the transport tells a server's error replies apart (connection.ts, load-batch.ts). */

/**
 * An error reply of the server (@redis/client's ErrorReply: SimpleError,
 * BlobError, …), told by its class name up the prototype chain (the module
 * is loaded lazily, and an ESM and a CJS copy have two classes).
 */
export function isErrorReply(error: unknown): boolean {
  for (let proto = error instanceof Error ? Object.getPrototypeOf(error) : null; proto !== null; ) {
    if (proto.constructor?.name === 'ErrorReply') return true
    proto = Object.getPrototypeOf(proto)
  }
  return false
}

/** "ERR Function not found": the server has not (or no longer has) the library. */
export function isFunctionMissing(error: unknown): boolean {
  return error instanceof Error && /function not found/i.test(error.message)
}
