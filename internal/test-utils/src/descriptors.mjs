// For fixtures (plain Node, no TypeScript): fills this process's file descriptor table (opens
// /dev/null until EMFILE) but for `free` descriptors, to meet a real "out of descriptors" under a
// small `ulimit -n`. Returns the function that closes what it opened.
import { closeSync, openSync } from 'node:fs'

/** Leaves `free` descriptors free; returns the release. */
export function fillDescriptors(free) {
  const fillers = []
  try {
    for (;;) fillers.push(openSync('/dev/null', 'r'))
  } catch (error) {
    if (error.code !== 'EMFILE') {
      for (const fd of fillers) closeSync(fd)
      throw error
    }
  }
  for (let i = 0; i < free && fillers.length > 0; i++) closeSync(fillers.pop())
  return () => {
    for (const fd of fillers.splice(0)) closeSync(fd)
  }
}
