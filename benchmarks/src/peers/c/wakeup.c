// The C floor of the semaphore wake-up rows: the rows' protocol between two C
// processes. The waiter announces each round on a ready word and sleeps on a
// wake-up word with futex; the releaser sleeps on the ready word, sleeps the
// gap, takes the time and wakes the waiter, which takes the time when its wait
// returns. Both are CLOCK_MONOTONIC, as in the Node and Python children.
//   wakeup <n> <gap µs>
// prints {"released":[…],"woken":[…]} (ns) on stdout.
#define _GNU_SOURCE
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

// The other process: the releaser gives up (exit 5) when it has died, so a
// waiter that crashed never leaves it asleep for good.
static pid_t peer;

static void futex_wait(_Atomic uint32_t* word, uint32_t seen) {
  struct timespec second = {1, 0};
  syscall(SYS_futex, word, FUTEX_WAIT, seen, peer > 0 ? &second : NULL, NULL, 0);
  // (The waiter exits only after its last wake-up, when nobody waits on it any more.)
  if (peer > 0 && atomic_load(word) == seen && waitpid(peer, NULL, WNOHANG) == peer) _exit(5);
}

static void futex_wake(_Atomic uint32_t* word) { syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0); }

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: wakeup <n> <gap µs>\n");
    return 2;
  }
  long n = atol(argv[1]);
  long gap_us = atol(argv[2]);
  if (n < 1 || gap_us < 0) return 2;
  // One page of words (ready, then the wake-up word on its own line), then the times.
  size_t bytes = 4096 + 2 * sizeof(int64_t) * (size_t)n;
  char* shared = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) return 3;
  _Atomic uint32_t* ready = (_Atomic uint32_t*)shared;
  _Atomic uint32_t* word = (_Atomic uint32_t*)(shared + 64);
  int64_t* released = (int64_t*)(shared + 4096);
  int64_t* woken = released + n;
  pid_t parent = getpid();
  pid_t waiter = fork();
  if (waiter < 0) return 4;
  if (waiter == 0) {
    // Dies with the releaser (killed on the benchmark's timeout, say).
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(1);
    for (long i = 0; i < n; i++) {
      atomic_store(ready, (uint32_t)(i + 1));
      futex_wake(ready);
      while (atomic_load(word) == 0) futex_wait(word, 0);
      woken[i] = now_ns();
      atomic_store(word, 0);
    }
    _exit(0);
  }
  peer = waiter;
  struct timespec gap = {gap_us / 1000000, (gap_us % 1000000) * 1000};
  for (long i = 0; i < n; i++) {
    for (uint32_t seen = atomic_load(ready); seen != (uint32_t)(i + 1); seen = atomic_load(ready))
      futex_wait(ready, seen);
    nanosleep(&gap, NULL);
    released[i] = now_ns();
    atomic_store(word, 1);
    futex_wake(word);
  }
  waitpid(waiter, NULL, 0);
  printf("{\"released\":[");
  for (long i = 0; i < n; i++) printf("%s%lld", i ? "," : "", (long long)released[i]);
  printf("],\"woken\":[");
  for (long i = 0; i < n; i++) printf("%s%lld", i ? "," : "", (long long)woken[i]);
  printf("]}\n");
  return 0;
}
