/**
 * Handles: how a primitive travels to another thread or process. `.handle` is
 * a small plain JSON object; `X.from(handle)` attaches to the same primitive.
 * `Process` goes further: it finds the class itself (the TRANSFER protocol),
 * so a child needs no import of the primitive's package.
 */
import { invalidArgType } from '../errors.js'

/** The plain JSON description of a primitive; pass it anywhere and call `X.from(handle)`. */
export interface Handle {
  /** The kind of primitive: 'queue', 'pipe', 'value', 'semaphore', … */
  kind: string
  /** The segment's name. */
  name: string
  /** Kind-specific fields (plain JSON). */
  [field: string]: unknown
}

/** Symbol under which a primitive describes how to revive it in another process. */
export const TRANSFER: unique symbol = Symbol.for('@ipc/transfer') as never

/** What `Process` sends for a primitive: the module that exports its class, the export, and the handle. */
export interface TransferDescriptor {
  /** File URL of the module exporting the class (the primitive's own dist file). */
  module: string
  /** Name of the exported class with a static `from(handle)`. */
  export: string
  handle: Handle
}

export interface Transferable {
  [TRANSFER](): TransferDescriptor
}

export function isTransferable(value: unknown): value is Transferable {
  return typeof value === 'object' && value !== null && typeof (value as Partial<Transferable>)[TRANSFER] === 'function'
}

/** Attaches to the primitive a TransferDescriptor describes (imports its module by URL). */
export async function revive(descriptor: TransferDescriptor): Promise<unknown> {
  const mod = (await import(descriptor.module)) as Record<string, { from(handle: Handle): unknown } | undefined>
  const cls = mod[descriptor.export]
  if (cls === undefined || typeof cls.from !== 'function')
    throw invalidArgType(
      `Cannot revive a ${descriptor.handle.kind}: ${descriptor.module} has no export "${descriptor.export}"`,
    )
  return cls.from(descriptor.handle)
}

/**
 * The handle of a Lock or RLock given as an argument. A lock of any copy of
 * @ipc/semaphore (ESM or CJS, another version) is recognised by its handle,
 * not its class. Throws TypeError `${must}, received …` for anything else.
 */
export function lockHandleOf(lock: unknown, must: string): { kind: 'lock' | 'rlock'; name: string } {
  const handle = (lock as { handle?: { kind?: unknown; name?: unknown } } | null)?.handle
  if (
    typeof lock !== 'object' ||
    lock === null ||
    (handle?.kind !== 'lock' && handle?.kind !== 'rlock') ||
    typeof handle.name !== 'string'
  )
    throw invalidArgType(`${must}, received ${lock === null ? 'null' : typeof lock}`)
  return handle as { kind: 'lock' | 'rlock'; name: string }
}

/** Validates a handle given to `X.from()`: a plain object of the expected kind with a string name. */
export function checkHandle<H extends Handle>(handle: unknown, kind: string | readonly string[]): H {
  const kinds = typeof kind === 'string' ? [kind] : kind
  if (typeof handle !== 'object' || handle === null)
    throw invalidArgType(
      `The handle must be an object from .handle, received ${handle === null ? 'null' : typeof handle}`,
    )
  const h = handle as Partial<Handle>
  if (typeof h.kind !== 'string' || typeof h.name !== 'string')
    throw invalidArgType('The handle must have string "kind" and "name" fields (use the .handle of a primitive)')
  if (!kinds.includes(h.kind)) throw invalidArgType(`The handle is of a ${h.kind}, expected a ${kinds.join(' or ')}`)
  return handle as H
}
