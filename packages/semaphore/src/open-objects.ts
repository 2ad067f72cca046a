/**
 * The semaphore objects this thread has open, so that a normal exit gives
 * back the permits they hold. Kept on globalThis (one set per thread, shared
 * by the ESM and CJS copies of this package), like @ipc/core's runtime.
 */

interface Closable {
  close(): void
}

interface OpenObjects {
  objects: Set<Closable>
  hooked: boolean
}

const KEY = Symbol.for('@ipc/semaphore/open-objects')

function registry(): OpenObjects {
  const holder = globalThis as unknown as Record<symbol, OpenObjects | undefined>
  let found = holder[KEY]
  if (found === undefined) {
    found = { objects: new Set(), hooked: false }
    holder[KEY] = found
  }
  return found
}

/**
 * Tracks an open object. On process (or worker) exit it is closed, which gives
 * back its permits, before @ipc/core's own exit hook detaches the segments:
 * hence `prependListener`.
 */
export function trackOpen(object: Closable): void {
  const open = registry()
  open.objects.add(object)
  if (open.hooked) return
  open.hooked = true
  process.prependListener('exit', () => {
    for (const each of [...open.objects]) each.close()
  })
}

export function untrackOpen(object: Closable): void {
  registry().objects.delete(object)
}
