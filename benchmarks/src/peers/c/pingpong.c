// The physical floor of a cross-process round trip: two processes ping-pong
// one word of shared memory, either sleeping on it with futex (the floor for
// a blocking wait) or spinning on it (the floor for a busy wait; it yields
// the CPU between looks, so both ends on one CPU still make progress).
//   pingpong <futex|spin> <n> <cpuA> <cpuB>
// prints {"elapsedNs":…,"median":…,"p99":…} (µs) on stdout.
// Word values: odd = a ping waits for the echo, even = the echo is back.
#define _GNU_SOURCE
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int use_futex;
// The echo process, in the pinger: it gives up (exit 5) when the echo has
// died, so an echo that crashed never leaves it waiting for good.
static pid_t peer;

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    perror("sched_setaffinity");
    exit(2);
  }
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

// Waits until *word != seen.
static void await_change(_Atomic uint32_t* word, uint32_t seen) {
  struct timespec second = {1, 0};
  for (unsigned long looks = 1; atomic_load(word) == seen; looks++) {
    if (use_futex)
      syscall(SYS_futex, word, FUTEX_WAIT, seen, peer > 0 ? &second : NULL, NULL, 0);
    else
      sched_yield();
    // The echo exits right after its last echo: look at the word before asking whether it died.
    if (peer > 0 && (use_futex || looks % 65536 == 0) && atomic_load(word) == seen &&
        waitpid(peer, NULL, WNOHANG) == peer)
      _exit(5);
  }
}

static void publish(_Atomic uint32_t* word, uint32_t value) {
  atomic_store(word, value);
  if (use_futex) syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static int by_value(const void* a, const void* b) {
  int64_t x = *(const int64_t*)a, y = *(const int64_t*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  if (argc != 5 || (strcmp(argv[1], "futex") != 0 && strcmp(argv[1], "spin") != 0)) {
    fprintf(stderr, "usage: pingpong <futex|spin> <n> <cpuA> <cpuB>\n");
    return 2;
  }
  use_futex = strcmp(argv[1], "futex") == 0;
  long n = atol(argv[2]);
  int cpu_a = atoi(argv[3]), cpu_b = atoi(argv[4]);
  if (n < 1) return 2;
  _Atomic uint32_t* word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  int64_t* latencies = malloc(sizeof(int64_t) * (size_t)n);
  if (word == MAP_FAILED || latencies == NULL) return 3;
  atomic_store(word, 0);
  pid_t parent = getpid();
  pid_t echo = fork();
  if (echo < 0) return 4;
  if (echo == 0) {
    // Dies with the pinger (killed on the benchmark's timeout, say).
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(1);
    pin(cpu_b);
    for (uint32_t v = 1; v < 2 * (uint32_t)n; v += 2) {
      await_change(word, v - 1);  // the ping: v
      publish(word, v + 1);       // the echo
    }
    _exit(0);
  }
  peer = echo;
  pin(cpu_a);
  int64_t first = now_ns();
  for (long i = 0; i < n; i++) {
    int64_t start = now_ns();
    uint32_t ping = (uint32_t)(2 * i + 1);
    publish(word, ping);
    await_change(word, ping);
    latencies[i] = now_ns() - start;
  }
  int64_t elapsed = now_ns() - first;
  waitpid(echo, NULL, 0);
  qsort(latencies, (size_t)n, sizeof(int64_t), by_value);
  double median = (latencies[(n - 1) / 2] + latencies[n / 2]) / 2.0;
  long rank = (long)((n * 99 + 99) / 100);
  if (rank < 1) rank = 1;
  printf("{\"elapsedNs\":%lld,\"median\":%.3f,\"p99\":%.3f}\n", (long long)elapsed, median / 1e3,
         latencies[rank - 1] / 1e3);
  return 0;
}
