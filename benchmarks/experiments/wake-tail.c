// The C floor of experiments/wake-tail.mjs: the benchmark's wake-up protocol
// (benchmarks/src/semaphore.ts, `semaphore.wakeup`) in C, with blocking on
// both sides as the benchmark blocks: the waiter posts "ready" and sleeps in
// FUTEX_WAIT; the releaser sleeps in FUTEX_WAIT until "ready", sleeps 0.2 ms,
// takes the time and wakes the waiter. Usage: wake-tail <rounds>. Prints one
// line per wake-up: latency ns, the waiter's CPU before it slept and after it
// woke, the releaser's CPU at the release, the release's CLOCK_MONOTONIC ns.
#define _GNU_SOURCE
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
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

static void futex_wait(_Atomic int *word, int expected) {
  syscall(SYS_futex, word, FUTEX_WAIT, expected, NULL, NULL, 0);
}

static void futex_wake(_Atomic int *word) { syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0); }

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int rounds = atoi(argv[1]);
  if (rounds <= 0) return 2;
  size_t size = 64 + 40 * (size_t)rounds;
  char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return 1;
  // ready: the rounds the waiter is ready for; word: permits given.
  _Atomic int *ready = (_Atomic int *)m, *word = (_Atomic int *)(m + 4);
  double *released = (double *)(m + 64), *woken = released + rounds;
  int *cpu_before = (int *)(woken + rounds), *cpu_after = cpu_before + rounds, *cpu_releaser = cpu_after + rounds;
  if (fork() == 0) {
    for (int i = 0; i < rounds; i++) {
      cpu_before[i] = sched_getcpu();
      atomic_fetch_add(ready, 1);
      futex_wake(ready);
      while (atomic_load(word) == 0) futex_wait(word, 0);
      atomic_fetch_sub(word, 1);
      woken[i] = now();
      cpu_after[i] = sched_getcpu();
    }
    _exit(0);
  }
  for (int i = 0; i < rounds; i++) {
    while (atomic_load(ready) == 0) futex_wait(ready, 0);
    atomic_fetch_sub(ready, 1);
    struct timespec gap = {0, 200000};
    nanosleep(&gap, NULL);
    cpu_releaser[i] = sched_getcpu();
    released[i] = now();
    atomic_fetch_add(word, 1);
    futex_wake(word);
  }
  wait(NULL);
  for (int i = 0; i < rounds; i++)
    printf("%.0f %d %d %d %.0f\n", woken[i] - released[i], cpu_before[i], cpu_after[i], cpu_releaser[i], released[i]);
  return 0;
}
