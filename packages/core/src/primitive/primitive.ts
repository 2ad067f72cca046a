/**
 * The primitive shell: what every named @ipc primitive (Queue, Semaphore,
 * SharedMemory, …) has in common, written once.
 *
 * - A `PrimitiveKind` declares a kind once: its segment kind (name, layout
 *   version, label), its class and module (for `Process`), how big a new
 *   segment is and how it is initialised, how to attach to a segment
 *   (build the views, check the layout), and what to do for a dead
 *   attacher's slot.
 * - Three ways to get an attachment, all here: `createAttachment` (the
 *   constructor), `openAttachment` (`X.open(name)`, `X.from(handle)`) and
 *   `openOrCreateAttachment` (`X.open(name, { create })`, atomic through
 *   `Segment.openOrCreate`). Each closes (and, when it created it, unlinks)
 *   the segment when the attach fails, so a failed call leaves nothing.
 * - `Primitive`, the base class: name, handle, `created`, `persistent`,
 *   `closed`, `close()` (idempotent, with a `detach()` hook for the kind's own
 *   detach; corrupt shared memory never makes it throw), `[Symbol.dispose]`,
 *   `unlink()`, `[TRANSFER]` for `Process`, `[inspect.custom]` (fields
 *   from `inspectFields()`; `closed: true` and `corrupt: true` handled here)
 *   and the exit registration (runtime.ts: primitives close before their
 *   segments at a normal exit).
 * - The one private path to attach from a public constructor: `attachTo`
 *   (below) leaves the attachment in this thread's runtime
 *   (`runtime().attaching`) and runs `construct()` (a `new X()`); the
 *   `Primitive` constructor takes it from there instead of calling its
 *   `create` callback. JS runs the constructor synchronously, so the slot is
 *   set and taken within one call, never seen by another.
 * - `openPrimitive` (`X.open(name, options)`) and `fromHandle` (`X.from`)
 *   put these together; a class's statics are one line each.
 *
 * A subclass constructor must call `super(kind, create)` before anything
 * that can throw: its validation goes in `create` (not called when
 * attaching), and its layout checks in `kind.attach`. Nothing it does after
 * `super()` may throw, since the object is registered for exit by then.
 */
import { inspect } from 'node:util'
import { CorruptError, invalidArgType, invalidArgValue } from '../errors.js'
import { checkName, Segment, type SegmentKind } from '../memory/segment.js'
import { checkOptionsObject, type OptionNames, optionNames } from '../option-names.js'
import { closeAtExit, EXIT_PRIMITIVES, forgetAtExit, runtime } from '../runtime.js'
import { leaveWaitsOn } from '../waiting/event-count.js'
import { checkHandle, type Handle, TRANSFER, type TransferDescriptor } from './handle.js'

/** An attached segment as one kind of primitive sees it: the segment and the kind's views of it (a ring, a counter). */
export interface Attachment {
  readonly segment: Segment
}

/** What every kind's validated creation options hold (the kind adds its own fields). */
export interface CreationSpec {
  /** The name; random when undefined. */
  name: string | undefined
  /** Keep the segment after its last attacher, until `unlink()`. */
  persistent: boolean
}

/** What a kind of primitive declares once. `A` is its attachment, `S` its validated creation options. */
export interface PrimitiveKind<A extends Attachment = Attachment, S extends CreationSpec = CreationSpec> {
  /** Segment kind, layout version and label ('queue', 1, 'queue'); the handle's `kind` too. */
  readonly segment: SegmentKind
  /** The class's export name: inspect prints it, `Process` revives with it. */
  readonly className: string
  /** File URL of the module that exports the class (`import.meta.url` of its file). */
  readonly module: string
  /** Bytes of the data area of a new object. */
  dataBytes(spec: S): number
  /** Writes the data area of a new segment before any other process can open it. */
  init(segment: Segment, spec: S): void
  /**
   * Builds the kind's views of an attached segment (created or opened),
   * checking its layout: throws CorruptError (or IncompatibleError) on a
   * word out of range. The caller closes the segment when it throws.
   */
  attach(segment: Segment): A
  /**
   * Gives back what the dead attacher of `slot` held, before its slot is
   * freed (in the process that reaps it). `attached` is undefined when the
   * reap runs inside this object's own open, before `attach` returned.
   */
  onReap?(slot: number, segment: Segment, attached: A | undefined): void
}

/** Options of `X.open(name, options)`. */
export interface OpenOptions<C extends object> {
  /**
   * Create the object when no object has this name: `true` with the
   * defaults, or the constructor's options (`name` aside). Atomic: of
   * processes racing on one name exactly one creates it and all attach to
   * that one. An object of another kind under the name still throws
   * `IncompatibleError`.
   * @default false (attach only: `NotFoundError` when the name does not exist)
   */
  create?: boolean | C | undefined
}

/** An attachment waiting for the constructor `attachTo` calls. */
interface Pending {
  kind: PrimitiveKind<Attachment, CreationSpec>
  attached: Attachment
  created: boolean
  /** Owned by another primitive, which closes it: not registered for exit. */
  owned: boolean
}

function pendingSlot(): { attaching: Pending | undefined } {
  return runtime() as { attaching: Pending | undefined }
}

/** The segment calls' `onReap`, wired to the kind's with the attachment once it exists (undefined before). */
function segmentOptions<A extends Attachment>(
  kind: PrimitiveKind<A, never>,
  holder: { attached?: A },
): { onReap?: (slot: number, segment: Segment) => void } {
  const onReap = kind.onReap
  if (onReap === undefined) return {}
  return { onReap: (slot, segment) => onReap.call(kind, slot, segment, holder.attached) }
}

/** Runs `kind.attach`; closes the segment (and unlinks it when this call created it) if it throws. */
function attachOrClose<A extends Attachment>(
  kind: PrimitiveKind<A, never>,
  segment: Segment,
  created: boolean,
  holder: { attached?: A },
): A {
  try {
    holder.attached = kind.attach(segment)
    return holder.attached
  } catch (error) {
    if (created) segment.unlink()
    segment.close()
    throw error
  }
}

/** Creates a segment of `kind` (ExistsError when `spec.name` is taken) and attaches to it. */
export function createAttachment<A extends Attachment, S extends CreationSpec>(kind: PrimitiveKind<A, S>, spec: S): A {
  const holder: { attached?: A } = {}
  const segment = Segment.create(kind.segment, kind.dataBytes(spec), {
    ...segmentOptions(kind, holder),
    name: spec.name,
    persistent: spec.persistent,
    init: (created) => kind.init(created, spec),
  })
  return attachOrClose(kind, segment, true, holder)
}

/** Attaches to the segment of `kind` called `name` (NotFoundError, IncompatibleError, CorruptError). */
export function openAttachment<A extends Attachment>(kind: PrimitiveKind<A, never>, name: string): A {
  const holder: { attached?: A } = {}
  const segment = Segment.open(kind.segment, name, segmentOptions(kind, holder))
  return attachOrClose(kind, segment, false, holder)
}

/** Attaches to `name`, or creates it from `spec` when no such name exists: atomic (Segment.openOrCreate). */
export function openOrCreateAttachment<A extends Attachment, S extends CreationSpec>(
  kind: PrimitiveKind<A, S>,
  name: string,
  spec: S,
): { attached: A; created: boolean } {
  const holder: { attached?: A } = {}
  const { segment, created } = Segment.openOrCreate(kind.segment, name, kind.dataBytes(spec), {
    ...segmentOptions(kind, holder),
    persistent: spec.persistent,
    init: (fresh) => kind.init(fresh, spec),
  })
  return { attached: attachOrClose(kind, segment, created, holder), created }
}

/**
 * Runs `construct` (a `new X()` of a Primitive subclass) attached to
 * `attached`: the one private path from a public constructor to an existing
 * segment. `owned`: another primitive owns the new object and closes it
 * (SimpleQueue's inner Queue). Closes the attachment's segment when the
 * constructor throws.
 */
export function attachTo<P, A extends Attachment>(
  construct: () => P,
  kind: PrimitiveKind<A, never>,
  attached: A,
  options: { created?: boolean; owned?: boolean } = {},
): P {
  const slot = pendingSlot()
  slot.attaching = {
    kind: kind as unknown as Pending['kind'],
    attached,
    created: options.created ?? false,
    owned: options.owned ?? false,
  }
  try {
    return construct()
  } catch (error) {
    attached.segment.close()
    throw error
  } finally {
    slot.attaching = undefined
  }
}

/** Validates the `persistent` creation option. */
export function checkPersistent(value: unknown): boolean {
  if (value === undefined) return false
  if (typeof value !== 'boolean')
    throw invalidArgType(`The "persistent" option must be a boolean, received ${typeof value}`)
  return value
}

/** The names of `OpenOptions`. */
const OPEN_OPTIONS = optionNames<OpenOptions<object>>({ create: true })

/**
 * `X.open(name, options)`: attaches to `name`; with `options.create`, creates
 * it when it does not exist (atomically), from the creation options
 * `checkCreate` validates (`name` is added to them; `createNames` are the
 * names they may hold, `name` among them). Everything is validated before
 * any segment is touched.
 */
export function openPrimitive<P, A extends Attachment, S extends CreationSpec, C extends object>(
  construct: () => P,
  kind: PrimitiveKind<A, S>,
  name: string,
  options: OpenOptions<C> | undefined,
  checkCreate: (create: C & { name: string }) => S,
  createNames: NoInfer<OptionNames<C & { name: string }>>,
): P {
  checkName(name)
  checkOptionsObject(options, OPEN_OPTIONS)
  const create = options?.create ?? false
  if (create === false) return attachTo(construct, kind as never, openAttachment(kind as never, name))
  const given = (create === true ? {} : create) as C & { name?: unknown }
  checkOptionsObject(given, createNames as OptionNames<C & { name?: unknown }>, '"create" option')
  // Inherited names count, as everywhere (a spread would drop them); names checkOptionNames
  // let pass without knowing them (set on Object.prototype by other code) are left behind.
  const copy: Record<string, unknown> = {}
  for (const option in given) if (createNames.has(option)) copy[option] = given[option as keyof typeof given]
  if (copy.name !== undefined && copy.name !== name)
    throw invalidArgValue(
      `The "create" option must not name another object: received name ${JSON.stringify(copy.name)} to open ${JSON.stringify(name)}`,
    )
  const spec = checkCreate({ ...copy, name } as C & { name: string })
  const { attached, created } = openOrCreateAttachment(kind, name, spec)
  return attachTo(construct, kind as never, attached, { created })
}

/** `X.from(handle)`: checks the handle's kind and opens its name. */
export function fromHandle<P, A extends Attachment>(
  construct: () => P,
  kind: PrimitiveKind<A, never>,
  handle: unknown,
): P {
  const checked = checkHandle(handle, kind.segment.kind)
  return attachTo(construct, kind as never, openAttachment(kind, checked.name))
}

/**
 * The base of every named primitive: lifetime, identity and revival. `A` is
 * the kind's attachment, `H` its handle type. Subclasses read their
 * attachment with `this.attachment` right after `super()`.
 */
export abstract class Primitive<A extends Attachment = Attachment, H extends Handle = Handle> implements Disposable {
  readonly #kind: PrimitiveKind<A, never>
  readonly #attached: A
  readonly #created: boolean
  readonly #owned: boolean
  /** The header's PERSISTENT flag, written once by the creator before the segment was ready. */
  readonly #persistent: boolean
  #closed = false

  /**
   * Attaches to the attachment `attachTo` left for this call, or else
   * creates a new object of `kind` from what `create` returns (the
   * constructor's options, validated there).
   */
  protected constructor(kind: PrimitiveKind<A, never>, create: () => CreationSpec) {
    const slot = pendingSlot()
    const pending = slot.attaching
    slot.attaching = undefined
    if (pending !== undefined) {
      this.#kind = pending.kind as unknown as PrimitiveKind<A, never>
      this.#attached = pending.attached as A
      this.#created = pending.created
      this.#owned = pending.owned
    } else {
      this.#kind = kind
      this.#attached = createAttachment(kind as PrimitiveKind<A, CreationSpec>, create())
      this.#created = true
      this.#owned = false
    }
    this.#persistent = this.#attached.segment.persistent
    if (!this.#owned) closeAtExit(this, EXIT_PRIMITIVES)
  }

  /** The kind's attachment (the segment and the kind's views of it). */
  protected get attachment(): A {
    return this.#attached
  }

  /** The kind this object was created or opened as. */
  protected get kind(): PrimitiveKind<A, never> {
    return this.#kind
  }

  /** The name any process opens it by (`X.open(name)`). */
  get name(): string {
    return this.#attached.segment.name
  }

  /** A small plain JSON object; `X.from(handle)` attaches to the same object in any thread or process. */
  get handle(): H {
    return { kind: this.#kind.segment.kind, name: this.name, ...this.handleFields() } as H
  }

  /**
   * True when this object created the primitive: `new X()`, or
   * `X.open(name, { create })` that found no object of that name. False when
   * it attached to an existing one.
   */
  get created(): boolean {
    return this.#created
  }

  /** True when the primitive stays after its last process detaches or dies, until `unlink()` (`persistent: true`). */
  get persistent(): boolean {
    return this.#persistent
  }

  /** True after `close()` on this object. */
  get closed(): boolean {
    return this.#closed
  }

  /**
   * Detaches this object (idempotent): the kind's `detach()` gives back what
   * it holds, then its segment slot is freed. The primitive is removed when
   * its last object closes or its process dies, unless it is persistent.
   * Corrupt shared memory does not make it throw: what the detach could not
   * give back stays, and the slot is freed all the same (other attachers'
   * liveness checks then see this object gone). A close must not fail where
   * nothing can act on the failure, such as the exit hook.
   */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    if (!this.#owned) forgetAtExit(this, EXIT_PRIMITIVES)
    // This thread's async waits on the memory leave first: the kind's detach may give back this
    // slot's shares of `waiters` (a ring's reclaim), which a leave after it would count twice.
    leaveWaitsOn(this.#attached.segment.buffer)
    try {
      this.detach()
    } catch (error) {
      if (!(error instanceof CorruptError)) throw error
    } finally {
      this.#attached.segment.close()
    }
  }

  /** Alias of `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close()
  }

  /** Removes the name now: later `X.open(name)` fail (or create anew); attached objects keep working until they close. */
  unlink(): void {
    this.#attached.segment.unlink()
  }

  /** How `Process` revives this object in a child (the class is found by module and export name). */
  [TRANSFER](): TransferDescriptor {
    return { module: this.#kind.module, export: this.#kind.className, handle: this.handle }
  }

  /** Live state, e.g. `Queue { name: 'jobs', size: 2, … }`; `closed: true` or `corrupt: true` instead when so. */
  [inspect.custom](_depth: number, options: object): string {
    let fields: Record<string, unknown>
    if (this.#closed) fields = { name: this.name, ...this.closedFields(), closed: true }
    else {
      try {
        fields = { name: this.name, ...this.inspectFields() }
        if (this.#persistent) fields.persistent = true
      } catch (error) {
        if (!(error instanceof CorruptError)) throw error
        fields = { name: this.name, corrupt: true }
      }
    }
    return `${this.#kind.className} ${inspect(fields, options)}`
  }

  /**
   * The kind's own detach, run once by `close()` before the segment is
   * closed (give back permits, leave a ring). A CorruptError it throws ends
   * it there and `close()` goes on; a kind that has more to do after a step
   * that can meet corrupt memory catches it around that step.
   */
  protected detach(): void {}

  /** Kind-specific fields of `handle` beyond `kind` and `name`. */
  protected handleFields(): Record<string, unknown> {
    return {}
  }

  /** Fields `inspect` still shows after the name of a closed object (read from the object, never from shared memory). */
  protected closedFields(): Record<string, unknown> {
    return {}
  }

  /** The live fields `inspect` shows after the name; may throw CorruptError. */
  protected abstract inspectFields(): Record<string, unknown>
}
