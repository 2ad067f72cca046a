"""Peer: multiprocessing.Queue, P producer processes and C consumer processes.

Producers ``put`` n/P items; consumers ``get`` until a ``None`` sentinel. With one
producer and one consumer, the producer puts the sentinel after its items; otherwise the
main process puts C sentinels once every producer has finished (the usual idiom).
Fresh processes and queue per repetition; the clock starts at the first ``put``
(after the processes started) and stops at the last consumer's sentinel.
"""

import multiprocessing as mp

from common import is_payload, now, payload, serve

config = {}


def produce(queue, barrier, results, n, kind, sentinels):
    item = payload(kind)
    barrier.wait()  # producers start together
    started = now()
    for _ in range(n):
        queue.put(item)
    for _ in range(sentinels):
        queue.put(None)
    results.put(("producer", started))


def consume(queue, results, kind):
    count = 0
    last = None
    while True:
        item = queue.get()
        if item is None:
            break
        last = item
        count += 1
    results.put(("consumer", now(), count, count == 0 or is_payload(kind, last)))


def setup(message):
    config.update(producers=message["producers"], consumers=message["consumers"], payload=message["payload"])
    return {}


def run(message):
    n = message["n"]
    producers, consumers, kind = config["producers"], config["consumers"], config["payload"]
    one_to_one = producers == 1 and consumers == 1
    queue = mp.Queue()
    results = mp.Queue()
    barrier = mp.Barrier(producers)
    consumer_processes = [mp.Process(target=consume, args=(queue, results, kind), daemon=True) for _ in range(consumers)]
    producer_processes = [
        mp.Process(
            target=produce,
            args=(queue, barrier, results, n // producers, kind, 1 if one_to_one else 0),
            daemon=True,
        )
        for _ in range(producers)
    ]
    for process in consumer_processes + producer_processes:
        process.start()
    if not one_to_one:
        for process in producer_processes:
            process.join()
        for _ in range(consumers):
            queue.put(None)
    reports = [results.get(timeout=120) for _ in range(producers + consumers)]
    for process in producer_processes + consumer_processes:
        process.join()
    queue.close()
    queue.join_thread()
    starts = [r[1] for r in reports if r[0] == "producer"]
    ends = [r for r in reports if r[0] == "consumer"]
    return {
        "tStart": min(starts),
        "tEnd": max(r[1] for r in ends),
        "count": sum(r[2] for r in ends),
        "ok": all(r[3] for r in ends),
    }


if __name__ == "__main__":
    serve({"setup": setup, "run": run})
