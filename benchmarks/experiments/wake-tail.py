"""Python's side of experiments/wake-tail.mjs: the benchmark's wake-up peers
(python/semaphore_bench.py 'wakeup', python/sync_bench.py 'condition'), with
every sample printed, one line each: latency ns, the waiter's CPU before it
slept and after it woke, the releaser's CPU at the release (-1 without --cpu), the release's
CLOCK_MONOTONIC time (ns).

    python3 wake-tail.py semaphore|condition <rounds> [--cpu]
"""

import multiprocessing as mp
import sys
import time

GAP = 0.2 / 1000
CPU = "--cpu" in sys.argv


def now():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def cpu():
    if not CPU:
        return -1
    with open("/proc/thread-self/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[36])


def semaphore_waiter(semaphore, ready, conn, n):
    woken, before, after = [0] * n, [0] * n, [0] * n
    for i in range(n):
        before[i] = cpu()
        ready.release()
        semaphore.acquire()
        woken[i] = now()
        after[i] = cpu()
    conn.send((woken, before, after))


def condition_waiter(condition, ready, conn, n):
    woken, before, after = [0] * n, [0] * n, [0] * n
    for i in range(n):
        with condition:
            before[i] = cpu()
            ready.release()
            condition.wait()
            woken[i] = now()
            after[i] = cpu()
    conn.send((woken, before, after))


def main():
    mode, n = sys.argv[1], int(sys.argv[2])
    ready = mp.Semaphore(0)
    mine, theirs = mp.Pipe()
    if mode == "semaphore":
        semaphore = mp.Semaphore(0)
        process = mp.Process(target=semaphore_waiter, args=(semaphore, ready, theirs, n), daemon=True)
    else:
        condition = mp.Condition()
        process = mp.Process(target=condition_waiter, args=(condition, ready, theirs, n), daemon=True)
    process.start()
    released, releaser = [0] * n, [0] * n
    for i in range(n):
        ready.acquire()
        time.sleep(GAP)
        releaser[i] = cpu()
        if mode == "semaphore":
            released[i] = now()
            semaphore.release()
        else:
            with condition:
                released[i] = now()
                condition.notify()
    woken, before, after = mine.recv()
    process.join()
    lines = (f"{w - r} {b} {a} {c} {r}" for w, r, b, a, c in zip(woken, released, before, after, releaser))
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
