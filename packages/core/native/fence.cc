// A remote memory barrier: membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED).
//
// A ring's producer on x86-64 may publish with a plain store, which needs no
// store-buffer drain (a seq-cst store is an XCHG that waits for it). The cost
// moves to the rare side: a consumer about to sleep registers, then calls
// fenceRemote(), which makes every running thread of every registered
// process execute a full barrier before it returns. So a producer's store
// made before that point is visible to the consumer's re-check, and a
// producer's load of the waiters count made after it sees the registration:
// no wake-up is lost (the asymmetric Dekker pattern).
//
// fenceRegister() -> 0 | -errno: registers this process (idempotent; Linux
//   4.16+), then issues one barrier, so that a seccomp filter that allows
//   the registration but not the barrier counts as no support. -ENOSYS or
//   -EINVAL when the kernel lacks the command, -EPERM when a filter forbids
//   it. A process that cannot register must not publish without a barrier,
//   and cannot fence for others.
// fenceRemote() -> 0 | -errno.
#include "fence.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace ipc {
namespace {

#ifdef __NR_membarrier
// From <linux/membarrier.h>, which older sysroots lack.
constexpr int kQuery = 0;
constexpr int kGlobalExpedited = 1 << 1;
constexpr int kRegisterGlobalExpedited = 1 << 2;

long Membarrier(int cmd) {
  long rc = syscall(__NR_membarrier, cmd, 0, 0);
  return rc < 0 ? -errno : rc;
}
#else
long Membarrier(int) { return -ENOSYS; }
constexpr int kQuery = 0;
constexpr int kGlobalExpedited = 0;
constexpr int kRegisterGlobalExpedited = 0;
#endif

Napi::Value FenceRegister(const Napi::CallbackInfo& info) {
  long commands = Membarrier(kQuery);
  long rc = commands < 0 ? commands
            : (commands & kGlobalExpedited) == 0 ? -EINVAL
                                                  : Membarrier(kRegisterGlobalExpedited);
  if (rc == 0) rc = Membarrier(kGlobalExpedited);
  return Napi::Number::New(info.Env(), static_cast<double>(rc));
}

Napi::Value FenceRemote(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Membarrier(kGlobalExpedited)));
}

}  // namespace

void InitFence(Napi::Env env, Napi::Object exports) {
  exports.Set("fenceRegister", Napi::Function::New(env, FenceRegister, "fenceRegister"));
  exports.Set("fenceRemote", Napi::Function::New(env, FenceRemote, "fenceRemote"));
}

}  // namespace ipc
