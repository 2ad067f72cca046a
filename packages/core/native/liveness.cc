// Process liveness. A pid alone can be reused, so a process is identified by
// (pid, start time): the start time is field 22 of /proc/<pid>/stat, in clock
// ticks since boot, and never changes for the life of a process.
#include "liveness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ipc {
namespace {

constexpr double kGone = -1;     // no such process (or a zombie): it has exited
constexpr double kUnknown = -2;  // could not read it (fds or memory exhausted, ...)

// Returns the start time of pid, kGone when it has exited, or kUnknown when
// /proc could not answer. Only an answer from /proc proves a process gone: a
// transient failure (EMFILE in a process that ran out of fds, ENOMEM) must
// never make a live holder look dead, or its slot and locks would be taken.
double StartTime(long pid) {
  // "<pid>/stat" relative to a /proc fd, never the absolute path: qemu-user
  // fakes /proc/<its own pid>/stat with its own start time (a tick or more
  // late), and every other process would then see this one as dead.
  int proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (proc < 0) return kUnknown;
  char path[32];
  snprintf(path, sizeof path, "%ld/stat", pid);
  int fd = openat(proc, path, O_RDONLY | O_CLOEXEC);
  int open_error = errno;
  close(proc);
  if (fd < 0) return open_error == ENOENT || open_error == ESRCH ? kGone : kUnknown;
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  int read_error = errno;
  close(fd);
  // A process that exits between the open and the read reads ESRCH (or nothing).
  if (n == 0 || (n < 0 && read_error == ESRCH)) return kGone;
  if (n < 0) return kUnknown;
  buf[n] = '\0';
  // The command name (field 2) may hold spaces and ')': skip to the last ')'.
  char* p = strrchr(buf, ')');
  if (p == nullptr) return kUnknown;
  p++;
  while (*p == ' ') p++;
  // Field 3 is the state: a zombie ('Z') or dead ('X') process has exited.
  if (*p == 'Z' || *p == 'X') return kGone;
  // Field 22 is 19 fields after the state.
  for (int field = 3; field < 22 && *p; field++) {
    while (*p && *p != ' ') p++;
    while (*p == ' ') p++;
  }
  if (*p < '0' || *p > '9') return kUnknown;
  return strtod(p, nullptr);
}

bool ArgPid(const Napi::CallbackInfo& info, long* pid) {
  if (info.Length() < 1 || !info[0].IsNumber()) return false;
  double d = info[0].As<Napi::Number>().DoubleValue();
  if (!(d >= 1 && d <= 4194304) || d != static_cast<double>(static_cast<long>(d))) return false;
  *pid = static_cast<long>(d);
  return true;
}

// processStartTime(pid) -> ticks | -1 (exited) | -2 (could not be read)
Napi::Value ProcessStartTime(const Napi::CallbackInfo& info) {
  long pid;
  if (!ArgPid(info, &pid)) return Napi::Number::New(info.Env(), -1);
  return Napi::Number::New(info.Env(), StartTime(pid));
}

// processAlive(pid, startTime) -> bool. startTime <= 0 skips the reuse check.
Napi::Value ProcessAlive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  long pid;
  if (!ArgPid(info, &pid) || info.Length() < 2 || !info[1].IsNumber()) return Napi::Boolean::New(env, false);
  double want = info[1].As<Napi::Number>().DoubleValue();
  if (kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return Napi::Boolean::New(env, false);
  double have = StartTime(pid);
  if (have == kGone) return Napi::Boolean::New(env, false);
  // Unreadable: kill() found the pid, so count it alive (a later look decides).
  if (have == kUnknown) return Napi::Boolean::New(env, true);
  return Napi::Boolean::New(env, want <= 0 || have == want);
}

// threadId() -> the kernel thread id of the calling thread.
Napi::Value ThreadId(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(syscall(SYS_gettid)));
}

}  // namespace

void InitLiveness(Napi::Env env, Napi::Object exports) {
  exports.Set("processStartTime", Napi::Function::New(env, ProcessStartTime, "processStartTime"));
  exports.Set("processAlive", Napi::Function::New(env, ProcessAlive, "processAlive"));
  exports.Set("threadId", Napi::Function::New(env, ThreadId, "threadId"));
}

}  // namespace ipc
