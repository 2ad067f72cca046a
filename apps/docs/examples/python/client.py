# The Python half of serve-python.ts: plain multiprocessing.connection, nothing to install.
import datetime
import os
import sys
from multiprocessing.connection import Client

port = int(sys.argv[1])
with Client(('127.0.0.1', port), authkey=os.environb[b'AUTHKEY']) as conn:
    conn.send({'id': 7, 'values': [1, 2, 3], 'tags': ('fast', 'cheap')})
    reply = conn.recv()
    print('python got', reply['id'], reply['total'], reply['big'], sorted(reply['seen']), flush=True)
    conn.send_bytes(b'\x00\x01raw')
    conn.send(datetime.date(2024, 1, 1))  # refused by Node: a class instance
    conn.send(['still', 'connected'])
