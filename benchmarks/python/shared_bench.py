"""Peer: multiprocessing.Value with its lock, and shared_memory bulk copies.

counter: 2 processes each increment ``Value('i')`` n/2 times under ``get_lock()``
(``with v.get_lock(): v.value += 1``, as the documentation shows); the final value must be n.
array: ``SharedMemory`` written from and read into a private buffer with memoryview
slice assignment (a memcpy).
"""

import multiprocessing as mp
from multiprocessing import shared_memory

from common import now, serve

state = {}


def increment(value, barrier, results, n):
    barrier.wait()  # start together, so the processes really contend
    started = now()
    for _ in range(n):
        with value.get_lock():
            value.value += 1
    results.put((started, now()))


def setup(message):
    state["mode"] = message["mode"]
    if state["mode"] == "array":
        size = message["bytes"]
        shm = shared_memory.SharedMemory(name=message["name"], create=True, size=size)
        state.update(
            shm=shm,
            size=size,
            source=bytearray(i & 0xFF for i in range(size)),
            target=bytearray(size),
        )
    return {}


def run(message):
    n = message["n"]
    if state["mode"] == "counter":
        processes = message.get("processes", 2)
        value = mp.Value("i", 0)
        results = mp.Queue()
        barrier = mp.Barrier(processes)
        workers = [
            mp.Process(target=increment, args=(value, barrier, results, n // processes), daemon=True)
            for _ in range(processes)
        ]
        for worker in workers:
            worker.start()
        reports = [results.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join()
        return {"tStart": min(r[0] for r in reports), "tEnd": max(r[1] for r in reports), "value": value.value}
    size = state["size"]
    shared = state["shm"].buf[:size]
    source = memoryview(state["source"])
    target = memoryview(state["target"])
    t0 = now()
    for _ in range(n):
        shared[:] = source
    t1 = now()
    for _ in range(n):
        target[:] = shared
    t2 = now()
    ok = target[size - 1] == (size - 1) & 0xFF
    shared.release()
    return {"writeNs": t1 - t0, "readNs": t2 - t1, "ok": ok}


def close(_message):
    shm = state.pop("shm", None)
    if shm is not None:
        shm.close()
        shm.unlink()


if __name__ == "__main__":
    serve({"setup": setup, "run": run, "close": close})
