"""Peer: multiprocessing.Semaphore.

uncontended: acquire + release in one process.
contended: k processes loop ``acquire(); counter.value += 1; release()`` on Semaphore(1)
guarding a ``RawValue('i')``; the final value must be n.
wakeup: a waiter process blocks in ``acquire()`` on Semaphore(0); the script sleeps a
little (so the waiter is asleep), takes the time and releases; the waiter takes the time
when ``acquire()`` returns.
"""

import multiprocessing as mp
import time

from common import latency_summary, now, serve

state = {}


def contend(semaphore, counter, barrier, results, n):
    barrier.wait()  # start together, so the processes really contend
    started = now()
    for _ in range(n):
        semaphore.acquire()
        counter.value += 1
        semaphore.release()
    results.put((started, now()))


def waiter(semaphore, ready, conn, n):
    woken = [0] * n
    for i in range(n):
        ready.release()
        semaphore.acquire()
        woken[i] = now()
    conn.send(woken)


def setup(message):
    state["mode"] = message["mode"]
    state["processes"] = message.get("processes", 1)
    state["gap"] = message.get("gapMs", 0.2) / 1000
    if state["mode"] == "uncontended":
        state["semaphore"] = mp.Semaphore(1)
    return {}


def run(message):
    n = message["n"]
    mode = state["mode"]
    if mode == "uncontended":
        semaphore = state["semaphore"]
        t0 = now()
        for _ in range(n):
            semaphore.acquire()
            semaphore.release()
        return {"elapsedNs": now() - t0}
    if mode == "contended":
        k = state["processes"]
        semaphore = mp.Semaphore(1)
        counter = mp.RawValue("i", 0)
        results = mp.Queue()
        barrier = mp.Barrier(k)
        workers = [
            mp.Process(target=contend, args=(semaphore, counter, barrier, results, n // k), daemon=True)
            for _ in range(k)
        ]
        for worker in workers:
            worker.start()
        reports = [results.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join()
        return {"tStart": min(r[0] for r in reports), "tEnd": max(r[1] for r in reports), "value": counter.value}
    semaphore = mp.Semaphore(0)
    ready = mp.Semaphore(0)
    mine, theirs = mp.Pipe()
    process = mp.Process(target=waiter, args=(semaphore, ready, theirs, n), daemon=True)
    process.start()
    gap = state["gap"]
    released = [0] * n
    first = now()
    for i in range(n):
        ready.acquire()
        time.sleep(gap)
        released[i] = now()
        semaphore.release()
    woken = mine.recv()
    elapsed = now() - first
    process.join()
    return {"elapsedNs": elapsed, **latency_summary([w - r for w, r in zip(woken, released)])}


if __name__ == "__main__":
    serve({"setup": setup, "run": run})
