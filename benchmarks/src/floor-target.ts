import type { Target } from './harness.ts'

/** A peer or a floor column of a row, and how a target's text names it. */
export interface Column {
  name: string
  text: string
}

/**
 * A latency target (lower is better) judged against `peer` where that is possible: met
 * when ours ≤ peer, or, when the same-run `floor` (a "(floor)" column: what the runtime
 * costs with no library) is itself above the peer, when ours ≤ `margin` × floor. The
 * floor is never a peer to beat: it only says when the peer is out of reach, and the
 * margin is what the library may add on top of it.
 */
export function peerOrFloor(peer: Column, floor: Column, margin: number): Target {
  return {
    text: `≤ ${peer.text}, or ≤ ${margin}× ${floor.text} when that floor is above ${peer.text}`,
    met: (ours, peers) => {
      const reference = peers[peer.name]
      if (reference === undefined) return undefined
      if (ours <= reference) return true
      const low = peers[floor.name]
      if (low === undefined) return undefined
      return low > reference && ours <= margin * low
    },
  }
}
