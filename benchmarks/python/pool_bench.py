"""Python peer of the pool workloads: multiprocessing.Pool.map as documented.

setup: {"size": 2, "task": "identity" | "spin1ms", "chunksize": 1 | "auto", "mapLength": ...};
run: {"n": ...}: n inputs, as maps of at most mapLength inputs each.
"auto" passes no chunksize, so Pool.map applies its own rule (ceil(n / (4 * size))).
"""

import multiprocessing
import time

from common import now, serve

pool = None
size = 2
settings = {}


def identity(x):
    return x


def spin1ms(x):
    end = time.monotonic_ns() + 1_000_000
    while time.monotonic_ns() < end:
        pass
    return x


TASKS = {"identity": identity, "spin1ms": spin1ms}


def setup(message):
    global pool, size
    size = message.get("size", 2)
    settings.update(task=message["task"], chunksize=message.get("chunksize", 1), map_length=message["mapLength"])
    pool = multiprocessing.Pool(size)
    pool.map(identity, range(size * 2), chunksize=1)


def run(message):
    n = message["n"]
    task = TASKS[settings["task"]]
    chunksize = settings["chunksize"]
    map_length = settings["map_length"]
    batches = [list(range(min(map_length, n - start))) for start in range(0, n, map_length)]
    results = []
    t0 = now()
    for items in batches:
        if chunksize == "auto":
            results.append(pool.map(task, items))
        else:
            results.append(pool.map(task, items, chunksize=chunksize))
    elapsed = now() - t0
    return {"elapsedNs": elapsed, "ok": results == batches}


def close(message):
    if pool is not None:
        pool.terminate()
        pool.join()


if __name__ == "__main__":
    serve({"setup": setup, "run": run, "close": close})
