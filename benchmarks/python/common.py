"""Shared by the Python peer scripts: the JSON-lines control protocol, the clock and the payloads.

The benchmark (Node) spawns one script per job. It writes one JSON request per line on
stdin, ``{"id": 1, "cmd": "run", "n": 1000}``, and reads one JSON reply per line on
stdout, ``{"type": "reply", "id": 1, "result": {...}}`` (or ``"error"``). The script says
``{"type": "ready"}`` once at start. Child processes never write to stdout.

The peers use ``multiprocessing`` the way its documentation shows, with the platform's
default start method.
"""

import json
import os
import signal
import sys
import time
import traceback

now = time.monotonic_ns  # CLOCK_MONOTONIC, like process.hrtime in Node


def payload(kind):
    if kind == "string":
        return "msg-12345"
    if kind == "object":
        return {"id": 12345, "name": "msg-12345", "values": [1, 2, 3]}
    if kind == "buffer64k":
        return bytes(i & 0xFF for i in range(65536))
    raise ValueError(f"Unknown payload kind {kind}")


def is_payload(kind, item):
    if kind == "string":
        return item == "msg-12345"
    if kind == "object":
        return isinstance(item, dict) and item.get("id") == 12345 and item.get("values") == [1, 2, 3]
    if kind == "buffer64k":
        return isinstance(item, (bytes, bytearray)) and len(item) == 65536 and item[65535] == 0xFF
    return False


def latency_summary(latencies_ns):
    """Median and p99 (nearest rank) in microseconds."""
    ordered = sorted(latencies_ns)
    count = len(ordered)
    median = (ordered[(count - 1) // 2] + ordered[count // 2]) / 2
    rank = min(count, max(1, -(-99 * count // 100)))
    return {"median": median / 1e3, "p99": ordered[rank - 1] / 1e3}


def _send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def serve(handlers):
    """Answers requests until "exit" or until stdin closes (the benchmark went away)."""
    _send({"type": "ready"})
    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        request_id = message.get("id")
        command = message.get("cmd")
        if command == "exit":
            close = handlers.get("close")
            if close:
                try:
                    close(message)
                except Exception:
                    pass
            _send({"type": "reply", "id": request_id, "result": {}})
            return
        try:
            handler = handlers.get(command)
            if handler is None:
                raise ValueError(f"Unknown command {command}")
            result = handler(message)
            _send({"type": "reply", "id": request_id, "result": result or {}})
        except Exception:
            _send({"type": "reply", "id": request_id, "error": traceback.format_exc()})
    # stdin closed: the benchmark is gone. Take our multiprocessing children with us.
    close = handlers.get("close")
    if close:
        try:
            close({})
        except Exception:
            pass
    try:
        os.killpg(os.getpgrp(), signal.SIGKILL)
    except OSError:
        os._exit(0)
