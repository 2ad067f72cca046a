// deny-syscall: runs a command in which one system call fails, as on a
// kernel or under a container profile without it. Test tooling, not shipped.
//
//   cc -O2 -o deny-syscall deny-syscall.c
//   ./deny-syscall futex_waitv node child.mjs   (ENOSYS, as on Linux before 5.16)
//   ./deny-syscall membarrier node child.mjs    (EPERM, as under a seccomp profile)
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

#include <string.h>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449 /* the same number on x86_64 and the generic table (arm64) */
#endif

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "deny-syscall: unsupported architecture"
#endif

int main(int argc, char** argv) {
  long nr;
  unsigned int err;
  if (argc >= 3 && strcmp(argv[1], "futex_waitv") == 0) {
    nr = SYS_futex_waitv;
    err = ENOSYS;
  } else if (argc >= 3 && strcmp(argv[1], "membarrier") == 0) {
    nr = SYS_membarrier;
    err = EPERM;
  } else {
    fprintf(stderr, "usage: %s futex_waitv|membarrier command [args...]\n", argv[0]);
    return 2;
  }
  struct sock_filter filter[] = {
      // A syscall of another ABI (x32, i386 on x86_64) passes untouched.
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)nr, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog program = {sizeof(filter) / sizeof(filter[0]), filter};
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
