"""Peer: multiprocessing.Event, Barrier and Condition.

event: 3 waiter processes block in ``Event.wait()``; the script waits until all three are
about to wait, sleeps a little (so they are asleep), takes the time and calls ``set()``;
each waiter takes the time when ``wait()`` returns. Two Events are used in turn, so one
can be cleared while the other wakes its waiters.
barrier: 3 processes call ``Barrier.wait()`` n times; the time per round.
condition: a waiter process holds the Condition and waits; the script takes the lock,
takes the time and calls ``notify()``; the waiter takes the time when ``wait()`` returns.
"""

import multiprocessing as mp
import time

from common import latency_summary, now, serve

state = {}


def event_waiter(events, ready, conn, n):
    woken = [0] * n
    for i in range(n):
        ready.release()
        events[i % 2].wait()
        woken[i] = now()
    conn.send(woken)


def barrier_party(barrier, start, results, n):
    start.wait()  # start together
    started = now()
    for _ in range(n):
        barrier.wait()
    results.put((started, now()))


def condition_waiter(condition, ready, conn, n):
    woken = [0] * n
    for i in range(n):
        with condition:
            ready.release()
            condition.wait()
            woken[i] = now()
    conn.send(woken)


def setup(message):
    state["mode"] = message["mode"]
    state["processes"] = message.get("processes", 3)
    state["gap"] = message.get("gapMs", 0.2) / 1000
    return {}


def run(message):
    n = message["n"]
    mode = state["mode"]
    k = state["processes"]
    gap = state["gap"]
    if mode == "barrier":
        barrier = mp.Barrier(k)
        start = mp.Barrier(k)
        results = mp.Queue()
        workers = [
            mp.Process(target=barrier_party, args=(barrier, start, results, n), daemon=True) for _ in range(k)
        ]
        for worker in workers:
            worker.start()
        reports = [results.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join()
        return {"tStart": min(r[0] for r in reports), "tEnd": max(r[1] for r in reports)}
    ready = mp.Semaphore(0)
    pipes = []
    workers = []
    if mode == "event":
        events = [mp.Event(), mp.Event()]
        for _ in range(k):
            mine, theirs = mp.Pipe()
            pipes.append(mine)
            workers.append(mp.Process(target=event_waiter, args=(events, ready, theirs, n), daemon=True))
    else:
        condition = mp.Condition()
        k = 1
        mine, theirs = mp.Pipe()
        pipes.append(mine)
        workers.append(mp.Process(target=condition_waiter, args=(condition, ready, theirs, n), daemon=True))
    for worker in workers:
        worker.start()
    released = [0] * n
    first = now()
    for i in range(n):
        for _ in range(k):
            ready.acquire()
        if mode == "event":
            events[(i + 1) % 2].clear()
        time.sleep(gap)
        if mode == "event":
            released[i] = now()
            events[i % 2].set()
        else:
            with condition:
                released[i] = now()
                condition.notify()
    latencies = []
    for pipe in pipes:
        woken = pipe.recv()
        latencies.extend(w - r for w, r in zip(woken, released))
    elapsed = now() - first
    for worker in workers:
        worker.join()
    return {"elapsedNs": elapsed, **latency_summary(latencies)}


if __name__ == "__main__":
    serve({"setup": setup, "run": run})
