// How long a futex wake-up takes to reach a thread, by the way that thread
// sleeps. Not part of `pnpm bench`; the measurement behind the io_uring mode
// of @ipc/core's async waits (packages/core/README.md, "How async waits sleep").
//
//   cc -O2 -pthread -o wake-hops wake-hops.c && ./wake-hops
//
// Two processes. The waker sleeps 200 µs (so the other side is asleep), takes
// a timestamp and FUTEX_WAKEs a shared word; the sleeper timestamps when its
// main thread runs again. Three ways to sleep:
//   futex    the main thread in FUTEX_WAIT (a sync wait)
//   thread   a helper thread in FUTEX_WAIT writes an eventfd that the main
//            thread waits for in epoll_wait (an event loop with a waiter thread)
//   uring    the main thread in epoll_wait on an io_uring whose
//            IORING_OP_FUTEX_WAIT the wake-up completes (Linux 6.7+)
// Prints the median and p90 in µs over 2,400 wake-ups (the first 600 skipped).
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N 3000
#define SKIP 600

struct Shared {
  _Atomic int event, ready;
  uint64_t woke[N], sent[N];
};
static struct Shared* S;
static int efd;

static long futex(void* addr, int op, int val) { return syscall(SYS_futex, addr, op, val, NULL, NULL, 0); }
static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}
static void wait_event(int i) {
  while (atomic_load(&S->event) == i) futex(&S->event, FUTEX_WAIT, i);
}
static void* helper(void* unused) {
  (void)unused;
  for (int i = 0; i < N; i++) {
    wait_event(i);
    uint64_t one = 1;
    if (write(efd, &one, 8) != 8) abort();
  }
  return NULL;
}

// The io_uring ABI (Linux 6.7), declared here so that old headers do not matter.
struct Params {
  uint32_t sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features, wq_fd, resv[3];
  uint32_t sq_off[10], cq_off[10];  // head, tail, ring_mask, ring_entries, flags, dropped, array, resv1, user_addr (u64)
};
struct Sqe {
  uint8_t opcode, flags;
  uint16_t ioprio;
  int32_t fd;
  uint64_t off, addr;
  uint32_t len, op_flags;
  uint64_t user_data;
  uint16_t buf_index, personality;
  int32_t file_index;
  uint64_t addr3, pad;
};

static void sleeper(const char* mode) {
  int ep = epoll_create1(0);
  struct epoll_event e = {.events = EPOLLIN};
  struct Params p;
  char* ring = NULL;
  struct Sqe* sqes = NULL;
  int ring_fd = -1;
  if (strcmp(mode, "thread") == 0) {
    efd = eventfd(0, EFD_NONBLOCK);
    epoll_ctl(ep, EPOLL_CTL_ADD, efd, &e);
    pthread_t t;
    pthread_create(&t, NULL, helper, NULL);
  } else if (strcmp(mode, "uring") == 0) {
    memset(&p, 0, sizeof p);
    ring_fd = (int)syscall(__NR_io_uring_setup, 8, &p);
    if (ring_fd < 0) {
      perror("io_uring_setup");
      _exit(1);
    }
    size_t bytes = p.cq_off[5] + p.cq_entries * 16;  // cq_off.cqes
    if (p.sq_off[6] + p.sq_entries * 4 > bytes) bytes = p.sq_off[6] + p.sq_entries * 4;
    ring = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd, 0);
    sqes = mmap(NULL, p.sq_entries * 64, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd, 0x10000000);
    epoll_ctl(ep, EPOLL_CTL_ADD, ring_fd, &e);
  }
  for (int i = 0; i < N; i++) {
    atomic_fetch_add(&S->ready, 1);
    futex(&S->ready, FUTEX_WAKE, 1);
    if (strcmp(mode, "futex") == 0) {
      wait_event(i);
    } else if (strcmp(mode, "thread") == 0) {
      struct epoll_event out;
      uint64_t v;
      while (epoll_wait(ep, &out, 1, -1) != 1) {
      }
      if (read(efd, &v, 8) != 8) abort();
    } else {
      _Atomic uint32_t* sq_tail = (void*)(ring + p.sq_off[1]);
      _Atomic uint32_t* cq_head = (void*)(ring + p.cq_off[0]);
      _Atomic uint32_t* cq_tail = (void*)(ring + p.cq_off[1]);
      uint32_t mask = *(uint32_t*)(ring + p.sq_off[2]);
      uint32_t tail = atomic_load(sq_tail);
      struct Sqe* s = &sqes[tail & mask];
      memset(s, 0, sizeof *s);
      s->opcode = 51;  // IORING_OP_FUTEX_WAIT
      s->fd = 2;       // FUTEX2_SIZE_U32, shared
      s->addr = (uint64_t)(uintptr_t)&S->event;
      s->off = (uint32_t)i;
      s->addr3 = 0xffffffffu;
      ((uint32_t*)(ring + p.sq_off[6]))[tail & mask] = tail & mask;
      atomic_store(sq_tail, tail + 1);
      if (syscall(__NR_io_uring_enter, ring_fd, 1, 0, 0, NULL, 0) != 1) _exit(1);
      while (atomic_load(cq_head) == atomic_load(cq_tail)) {
        struct epoll_event out;
        epoll_wait(ep, &out, 1, -1);
      }
      atomic_fetch_add(cq_head, 1);
    }
    S->woke[i] = now_ns();
  }
  _exit(0);
}

static int by_value(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  const char* modes[] = {"futex", "thread", "uring"};
  for (int m = 0; m < 3; m++) {
    if (argc > 1 && strcmp(argv[1], modes[m]) != 0) continue;
    S = mmap(NULL, sizeof *S, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(S, 0, sizeof *S);
    if (fork() == 0) sleeper(modes[m]);
    for (int i = 0; i < N; i++) {
      while (atomic_load(&S->ready) == i) futex(&S->ready, FUTEX_WAIT, i);
      struct timespec gap = {0, 200000};
      nanosleep(&gap, NULL);
      S->sent[i] = now_ns();
      atomic_fetch_add(&S->event, 1);
      futex(&S->event, FUTEX_WAKE, 1);
    }
    int status;
    wait(&status);
    if (status != 0) {
      printf("%-6s  failed (exit status %d)\n", modes[m], status);
      continue;
    }
    static double us[N];
    int n = 0;
    for (int i = SKIP; i < N; i++) us[n++] = (double)(S->woke[i] - S->sent[i]) / 1e3;
    qsort(us, n, sizeof us[0], by_value);
    printf("%-6s  median %6.1f µs  p90 %6.1f µs\n", modes[m], us[n / 2], us[n * 9 / 10]);
    munmap(S, sizeof *S);
  }
  return 0;
}
