# The Python half of shared-memory.ts: maps Node's block by name and writes into it.
import sys
from multiprocessing import resource_tracker, shared_memory

name = sys.argv[1]
try:
    shm = shared_memory.SharedMemory(name=name, track=False)  # Python 3.13+
except TypeError:
    shm = shared_memory.SharedMemory(name=name)
    # Python <= 3.12 tracks blocks it only opened, and would unlink Node's block when it exits.
    resource_tracker.unregister(shm._name, 'shared_memory')

prices = shm.buf.cast('d')
print('python sees', list(prices[:3]), flush=True)
prices[3] = sum(prices[:3])
prices.release()
shm.close()
