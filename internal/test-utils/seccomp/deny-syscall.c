// deny-syscall: runs a command in which some system calls fail, as on an
// older kernel or under a container profile without them. Test tooling, not
// shipped.
//
//   cc -O2 -o deny-syscall deny-syscall.c
//   ./deny-syscall futex_waitv node child.mjs   (ENOSYS, as on Linux before 5.16)
//   ./deny-syscall membarrier node child.mjs    (EPERM, as under a seccomp profile)
//   ./deny-syscall io_uring_setup node child.mjs  (EPERM, as under Docker's default profile)
//   ./deny-syscall futex_waitv,io_uring_setup node child.mjs  (several, comma-separated)
//
// PR_SET_NO_NEW_PRIVS lets an unprivileged process install the filter; the
// filter and the flag pass to every child the command starts.
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <stdlib.h>
#include <string.h>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449 /* the same number on x86_64 and the generic table (arm64) */
#endif

#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425 /* the same number on x86_64 and the generic table (arm64) */
#endif

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "deny-syscall: unsupported architecture"
#endif

struct Denial {
  const char* name;
  long nr;
  unsigned int err;
};

static const struct Denial kDenials[] = {
    {"futex_waitv", SYS_futex_waitv, ENOSYS},
    {"membarrier", SYS_membarrier, EPERM},
    {"io_uring_setup", SYS_io_uring_setup, EPERM},
};
#define MAX_DENIED 3

int main(int argc, char** argv) {
  const struct Denial* denied[MAX_DENIED];
  int n = 0;
  char names[256];
  if (argc >= 3 && strlen(argv[1]) < sizeof names) {
    strcpy(names, argv[1]);
    for (char* name = strtok(names, ","); name != NULL; name = strtok(NULL, ",")) {
      int found = -1;
      for (int i = 0; i < MAX_DENIED; i++)
        if (strcmp(name, kDenials[i].name) == 0) found = i;
      if (found < 0 || n == MAX_DENIED) {
        n = 0;
        break;
      }
      denied[n++] = &kDenials[found];
    }
  }
  if (n == 0) {
    fprintf(stderr, "usage: %s futex_waitv|membarrier|io_uring_setup[,...] command [args...]\n", argv[0]);
    return 2;
  }
  // A syscall of another ABI (x32, i386 on x86_64) passes untouched.
  struct sock_filter filter[4 + 2 * MAX_DENIED];
  int k = 0;
  filter[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  filter[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 0, (unsigned char)(1 + 2 * n));
  filter[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
  for (int i = 0; i < n; i++) {
    filter[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)denied[i]->nr, 0, 1);
    filter[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (denied[i]->err & SECCOMP_RET_DATA));
  }
  filter[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog program = {(unsigned short)k, filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    perror("deny-syscall: prctl(PR_SET_NO_NEW_PRIVS)");
    return 126;
  }
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
    perror("deny-syscall: prctl(PR_SET_SECCOMP)");
    return 126;
  }
  execvp(argv[2], argv + 2);
  perror("deny-syscall: execvp");
  return 127;
}
