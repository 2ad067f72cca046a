"""Peer: multiprocessing.Pipe, and multiprocessing.connection over TCP.

rtt: the script pings an echo process over a duplex Pipe and times each round trip.
oneway: a sender process sends n messages (``send``, or ``send_bytes`` for buffers) to
the script, which receives them (``recv`` / ``recv_bytes``); the clock runs from the
sender's first send to the script's last receive.
tcp-rtt: the script listens with multiprocessing.connection.Listener on 127.0.0.1 (with an
authkey), an echo peer connects with Client, and the script times each send/recv round
trip of the string payload, as in rtt. The echo peer is a Python process
(multiprocessing.connection.Client) or, with echo "node", a Node process running ours
(``src/children/python-echo.mjs``: @ipc/pipe's Client with codec "pickle").
"""

import multiprocessing as mp
import os
import subprocess
from multiprocessing.connection import Client, Listener

from common import is_payload, latency_summary, now, payload, serve

state = {}


def echo(conn, cpu=None):
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    while True:
        message = conn.recv()
        if message is None:
            return
        conn.send(message)


def sender(conn, n, kind):
    item = payload(kind)
    started = now()
    if kind == "buffer64k":
        for _ in range(n):
            conn.send_bytes(item)
    else:
        for _ in range(n):
            conn.send(item)
    conn.send(("started", started))


TCP_AUTHKEY = b"ipc-bench-key"


def tcp_echo(port):
    with Client(("127.0.0.1", port), authkey=TCP_AUTHKEY) as conn:
        while True:
            try:
                conn.send(conn.recv())
            except EOFError:
                return


def setup(message):
    state["mode"] = message["mode"]
    state["payload"] = message.get("payload", "string")
    if state["mode"] == "tcp-rtt":
        listener = Listener(("127.0.0.1", 0), authkey=TCP_AUTHKEY)
        port = listener.address[1]
        if message["echo"] == "node":
            env = dict(os.environ, IPC_BENCH_AUTHKEY=TCP_AUTHKEY.decode())
            peer = subprocess.Popen(
                [message["node"], message["script"], str(port)], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
            )
        else:
            peer = mp.Process(target=tcp_echo, args=(port,), daemon=True)
            peer.start()
        conn = listener.accept()
        listener.close()
        state.update(conn=conn, echo=peer)
        return {}
    if state["mode"] == "rtt":
        mine, theirs = mp.Pipe()
        # With "cpus": [a, b], this process runs on CPU a and the echo on CPU b.
        cpus = message.get("cpus")
        process = mp.Process(target=echo, args=(theirs, cpus[1] if cpus else None), daemon=True)
        process.start()
        if cpus:
            os.sched_setaffinity(0, {cpus[0]})
        state.update(conn=mine, echo=process)
    return {}


def run(message):
    n = message["n"]
    if state["mode"] in ("rtt", "tcp-rtt"):
        conn = state["conn"]
        item = payload("string")
        latencies = [0] * n
        first = now()
        for i in range(n):
            start = now()
            conn.send(item)
            conn.recv()
            latencies[i] = now() - start
        return {"elapsedNs": now() - first, **latency_summary(latencies)}
    kind = state["payload"]
    reader, writer = mp.Pipe(duplex=False)
    process = mp.Process(target=sender, args=(writer, n, kind), daemon=True)
    process.start()
    last = None
    if kind == "buffer64k":
        for _ in range(n):
            last = reader.recv_bytes()
    else:
        for _ in range(n):
            last = reader.recv()
    ended = now()
    _, started = reader.recv()
    process.join()
    reader.close()
    writer.close()
    return {"tStart": started, "tEnd": ended, "count": n, "ok": is_payload(kind, last)}


def close(_message):
    if "echo" not in state:
        return
    if state["mode"] == "tcp-rtt":
        # EOF ends either echo peer.
        state["conn"].close()
        peer = state["echo"]
        if isinstance(peer, subprocess.Popen):
            try:
                peer.wait(5)
            except subprocess.TimeoutExpired:
                peer.kill()
        else:
            peer.join(2)
        return
    state["conn"].send(None)
    state["echo"].join(2)


if __name__ == "__main__":
    serve({"setup": setup, "run": run, "close": close})
