# The Python half of connect-to-python.ts: squares numbers for whoever connects with the key.
import os
from multiprocessing.connection import Listener

with Listener(('127.0.0.1', 0), authkey=os.environb[b'AUTHKEY']) as listener:
    print(listener.address[1], flush=True)
    with listener.accept() as conn:
        while True:
            try:
                request = conn.recv()
            except EOFError:
                break
            conn.send({'n': request['n'], 'square': request['n'] ** 2})
