"""Peer of the idle-cost row: threads blocked in ``multiprocessing.Queue.get()``.

One ``mp.Queue`` per waiter, and one thread blocked in its ``get()``. While they wait, the
main thread measures the CPU time of the whole process (``time.process_time``: every
thread) per second of waiting, and the p99 of how late a 10 ms ``time.sleep`` returns: the
counterpart of Node's ``monitorEventLoopDelay``, whose 10 ms timer is what the Node peers
report. Then a waker process (started once, holding every queue) puts one item into each
queue, and every ``get()`` must return it.
"""

import multiprocessing as mp
import threading
import time

from common import is_payload, now, payload, serve

RESOLUTION_NS = 10_000_000  # the 10 ms sampling interval, as in the Node children
SETTLE_S = 0.1  # time for fresh waits to block before measuring, as in the Node children

state = {}


def wake_each(queues, commands):
    item = payload("string")
    for _ in iter(commands.get, None):
        for queue in queues:
            queue.put(item)


def setup(message):
    queues = [mp.Queue() for _ in range(message["count"])]
    commands = mp.Queue()
    waker = mp.Process(target=wake_each, args=(queues, commands), daemon=True)
    waker.start()
    state.update(queues=queues, commands=commands, waker=waker)
    return {}


def run(message):
    ms = message["n"]
    queues = state["queues"]
    results = [None] * len(queues)

    def wait(i):
        results[i] = queues[i].get()

    threads = [threading.Thread(target=wait, args=(i,), daemon=True) for i in range(len(queues))]
    for thread in threads:
        thread.start()
    time.sleep(SETTLE_S)
    late = []
    cpu_start = time.process_time_ns()
    started = last = now()
    end = started + ms * 1_000_000
    while last < end:
        time.sleep(RESOLUTION_NS / 1e9)
        tick = now()
        late.append(max(0, tick - last - RESOLUTION_NS))
        last = tick
    cpu = time.process_time_ns() - cpu_start
    elapsed = now() - started
    late.sort()
    p99 = late[min(len(late), max(1, -(-99 * len(late) // 100))) - 1]
    state["commands"].put(1)
    for thread in threads:
        thread.join(timeout=30)
    woken = [item for item in results if item is not None]
    return {
        "elapsedNs": elapsed,
        "cpuMsPerS": cpu / 1e6 / (elapsed / 1e9),
        "delayP99Ms": p99 / 1e6,
        "count": len(woken),
        "ok": all(is_payload("string", item) for item in woken),
    }


def close(message):
    commands = state.get("commands")
    if commands is not None:
        commands.put(None)
        state["waker"].join(timeout=2)


if __name__ == "__main__":
    serve({"setup": setup, "run": run, "close": close})
