// The C floor of experiments/wake-latency.mjs: the same protocol, both
// processes in C. Usage: wake-latency /<segment name> <rounds>. The segment
// (created by the script) holds word 0 (the round the waiter is ready for),
// word 1 (the futex word), then the release and wake times (f64 ns) from byte 64.
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  int rounds = atoi(argv[2]);
  int fd = shm_open(argv[1], O_RDWR, 0);
  if (fd < 0 || rounds <= 0) return 1;
  char *m = mmap(NULL, 64 + 16 * (size_t)rounds, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) return 1;
  _Atomic int *ready = (_Atomic int *)m, *word = (_Atomic int *)(m + 4);
  double *released = (double *)(m + 64), *woken = released + rounds;
  if (fork() == 0) {
    for (int i = 0; i < rounds; i++) {
      atomic_store(ready, i + 1);
      while (atomic_load(word) == 0) syscall(SYS_futex, word, FUTEX_WAIT, 0, NULL, NULL, 0);
      atomic_store(word, 0);
      woken[i] = now();
    }
    _exit(0);
  }
  for (int i = 0; i < rounds; i++) {
    while (atomic_load(ready) != i + 1) {
    }
    struct timespec gap = {0, 200000};
    nanosleep(&gap, NULL);
    released[i] = now();
    atomic_store(word, 1);
    syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
  }
  wait(NULL);
  return 0;
}
