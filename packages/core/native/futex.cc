// Futex wait and wake on a 32-bit word, across threads and processes.
//
// Sync: futexWait blocks the calling thread in FUTEX_WAIT (shared, not
// FUTEX_PRIVATE, so the key is the page's backing object and works across
// processes that map the same segment).
//
// Async: three modes, chosen once per process (waitMode()); never the libuv
// pool. Completions reach JS in batches.
//
// - 'uring' (Linux 6.7+, io_uring allowed): no waiter thread. Each JS thread
//   (napi_env) has an io_uring; a wait is an IORING_OP_FUTEX_WAIT that the
//   notify completes in the kernel, and the ring's fd, a libuv poll handle
//   of that thread's loop, delivers it (uring-waits.cc): one thread wake-up
//   instead of two. A thread whose ring cannot be set up uses the next mode.
//
// In the two other modes each JS thread owns its waiter threads, and
// completions go back to JS through one thread-safe function per env:
//
// - 'waitv' (Linux 5.16+): a waiter thread sleeps in futex_waitv on up to 127
//   registered words plus its own `control` word; registering or cancelling
//   a wait bumps `control` and wakes it so it rebuilds its list.
// - 'threads' (kernels without futex_waitv, or IPC_NO_FUTEX_WAITV=1): one
//   thread per pending wait (64 KiB stack) in plain FUTEX_WAIT on its word.
//   A thread whose wait ended parks on its private `go` word (up to 16 per
//   env, for 1 s) and takes the next wait, which skips pthread_create.
//   Cancel sets the wait's `cancelled` flag under the env mutex, then wakes
//   every sleeper of the word: the other sleepers see a spurious wake-up
//   ('ok'; every caller re-checks its state). A cancel that lands between the
//   thread's flag check and its entry into the kernel is missed by that wake,
//   so the thread sleeps with a timeout (2 ms, doubling to 1 s) and re-checks
//   the flag. A cancelled thread never touches the word again (the segment
//   may be unmapped, its address reused): it does not pass on a wake it took.
//   A notify(count < all) that picks a cancelled thread is covered by the
//   cancel's own wake-all, except for a thread that missed it: that one may
//   spend a wake; every caller sleeps in slices and re-checks. ('waitv' mode
//   passes such a wake on: a cancelled entry stays queued in the kernel
//   until its thread rebuilds its list, and a wake it takes is re-issued.)
//
// Safety: a registered address stays mapped until its wait completes or is
// cancelled (the TypeScript layer cancels every wait on a segment before it
// unmaps it, and keeps the waited buffer reachable), so a waitv thread may
// read it under the env mutex. That holds only for memory no script can free
// while the wait is pending: a SharedArrayBuffer (never detached) or a live
// segment mapping (unmapped only by its close, which cancels first). A plain
// ArrayBuffer can be transferred and its memory freed under a pending wait,
// so waitAsync refuses it (kNotShared), as Atomics.waitAsync does. A 'threads'
// thread never reads the word itself: only the kernel does (EFAULT if it was
// unmapped after a cancel).
#include "futex.h"

#include <uv.h>

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <thread>
#include <vector>

#include "segment.h"
#include "uring-waits.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef FUTEX_32
#define FUTEX_32 2
struct futex_waitv {
  uint64_t val;
  uint64_t uaddr;
  uint32_t flags;
  uint32_t __reserved;
};
#endif

namespace ipc {
namespace {

constexpr size_t kPerThread = 127;  // FUTEX_WAITV_MAX (128) minus the control word.
enum Result { kOk = 0, kNotEqual = 1, kTimedOut = 2 };
// waitAsync's answer for a word in memory that may be freed under the wait (see Safety).
constexpr int kNotShared = 2;

long Futex(void* addr, int op, uint32_t val, const struct timespec* ts) {
  return syscall(SYS_futex, addr, op, val, ts, nullptr, 0);
}

// Reads (typedArray, index) and returns the word's address, or nullptr if the
// argument is not an Int32Array or the index is not inside it. With `shared`,
// also says whether the word lies in memory that cannot be freed while the
// array is reachable: a SharedArrayBuffer or a live segment mapping.
std::atomic<int32_t>* WordAt(const Napi::CallbackInfo& info, bool* shared = nullptr) {
  if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsNumber()) return nullptr;
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_int32_array) return nullptr;
  double index = info[1].As<Napi::Number>().DoubleValue();
  size_t length = ta.ElementLength();
  if (!(index >= 0 && index < static_cast<double>(length)) || index != static_cast<double>(static_cast<size_t>(index)))
    return nullptr;
  napi_typedarray_type type;
  size_t len;
  void* data = nullptr;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(info.Env(), ta, &type, &len, &data, &ab, &offset) != napi_ok || data == nullptr)
    return nullptr;
  if (shared != nullptr) {
    // napi_is_arraybuffer is false for a SharedArrayBuffer.
    bool plain = true;
    void* base = nullptr;
    size_t bytes = 0;
    if (napi_is_arraybuffer(info.Env(), ab, &plain) != napi_ok) return nullptr;
    *shared = !plain || (napi_get_arraybuffer_info(info.Env(), ab, &base, &bytes) == napi_ok &&
                         IsLiveMapping(base, bytes));
  }
  return reinterpret_cast<std::atomic<int32_t>*>(static_cast<int32_t*>(data) + static_cast<size_t>(index));
}

bool ArgInt32(const Napi::CallbackInfo& info, size_t i, int32_t* out) {
  if (info.Length() <= i || !info[i].IsNumber()) return false;
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= INT32_MIN && d <= INT32_MAX) || d != static_cast<double>(static_cast<int32_t>(d))) return false;
  *out = static_cast<int32_t>(d);
  return true;
}

// A wait id (JS numbers them 1, 2, ...): an integer from 0 to 2^53 - 1, so that
// it survives the uint64 of io_uring's user_data and comes back the same.
bool ArgWaitId(const Napi::CallbackInfo& info, size_t i, double* out) {
  if (info.Length() <= i || !info[i].IsNumber()) return false;
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<int64_t>(d))) return false;
  *out = d;
  return true;
}

// futexWait(i32, index, expected, timeoutMs) -> 0 ok | 1 not-equal | 2 timed-out | -errno.
// timeoutMs < 0 waits forever.
Napi::Value FutexWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::atomic<int32_t>* word = WordAt(info);
  int32_t expected;
  if (word == nullptr || !ArgInt32(info, 2, &expected) || info.Length() < 4 || !info[3].IsNumber())
    return Napi::Number::New(env, -EINVAL);
  double timeout = info[3].As<Napi::Number>().DoubleValue();
  if (timeout != timeout) return Napi::Number::New(env, -EINVAL);
  if (word->load() != expected) return Napi::Number::New(env, kNotEqual);
  struct timespec deadline, now, rel;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  if (timeout >= 0) {
    double s = timeout / 1000.0;
    if (s > 1e9) s = 1e9;
    deadline.tv_sec += static_cast<time_t>(s);
    deadline.tv_nsec += static_cast<long>((s - static_cast<double>(static_cast<time_t>(s))) * 1e9);
    if (deadline.tv_nsec >= 1000000000L) {
      deadline.tv_sec++;
      deadline.tv_nsec -= 1000000000L;
    }
  }
  for (;;) {
    const struct timespec* ts = nullptr;
    if (timeout >= 0) {
      clock_gettime(CLOCK_MONOTONIC, &now);
      rel.tv_sec = deadline.tv_sec - now.tv_sec;
      rel.tv_nsec = deadline.tv_nsec - now.tv_nsec;
      if (rel.tv_nsec < 0) {
        rel.tv_sec--;
        rel.tv_nsec += 1000000000L;
      }
      if (rel.tv_sec < 0) return Napi::Number::New(env, kTimedOut);
      ts = &rel;
    }
    long rc = Futex(word, FUTEX_WAIT, static_cast<uint32_t>(expected), ts);
    if (rc == 0) return Napi::Number::New(env, kOk);
    if (errno == EAGAIN) return Napi::Number::New(env, kNotEqual);
    if (errno == ETIMEDOUT) return Napi::Number::New(env, kTimedOut);
    if (errno != EINTR) return Napi::Number::New(env, -errno);
  }
}

// futexWake(i32, index, count) -> number woken | -errno.
Napi::Value FutexWake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::atomic<int32_t>* word = WordAt(info);
  int32_t count;
  if (word == nullptr || !ArgInt32(info, 2, &count) || count < 0) return Napi::Number::New(env, -EINVAL);
  if (count == 0) return Napi::Number::New(env, 0);
  long rc = Futex(word, FUTEX_WAKE, static_cast<uint32_t>(count), nullptr);
  return Napi::Number::New(env, rc < 0 ? -errno : rc);
}

// ---- async waits ----

struct Entry {
  double id;
  std::atomic<int32_t>* word;
  int32_t expected;
};

struct AsyncWaiters;

// A 'threads' mode thread and its current wait. The thread owns it and
// deletes it on exit. The wait's fields are written under AsyncWaiters::mu
// while the thread is parked (before `go` is bumped); `registered` is guarded
// by mu; `cancelled` is also read by the thread without the lock, before
// each sleep.
struct Sleeper {
  double id = 0;
  std::atomic<int32_t>* word = nullptr;
  int32_t expected = 0;
  bool registered = false;
  std::atomic<bool> cancelled{false};
  std::atomic<uint32_t> go{0};          // parked: bumped (and woken) to hand over a wait, or to stop
  std::shared_ptr<AsyncWaiters> owner;  // keeps the env's state alive until the thread exits
};

struct WaiterThread {
  std::atomic<uint32_t> control{0};
  std::vector<Entry> entries;  // guarded by AsyncWaiters::mu
  std::thread thread;
  void Kick() {
    control.fetch_add(1);
    Futex(&control, FUTEX_WAKE, INT_MAX, nullptr);
  }
};

enum class Mode { kUring, kWaitv, kThreads };

struct AsyncWaiters {
  std::mutex mu;
  bool stop = false;
  // This env's mode: the process's (probed at the first waitMode() or
  // onWaitComplete(), not at load), or the next one if its ring could not be set up.
  Mode mode = Mode::kThreads;
  bool mode_known = false;
  UringWaits* uring = nullptr;  // 'uring' mode: the ring, and the JS callback it delivers to
  napi_env env = nullptr;
  napi_ref callback = nullptr;
  napi_async_context async_context = nullptr;
  std::vector<WaiterThread*> threads;
  std::vector<double> done;  // flat (id, result) pairs awaiting delivery to JS
  napi_threadsafe_function tsfn = nullptr;
  uint32_t pending = 0;  // registered or undelivered; touched only on the JS thread
  bool refed = false;
  std::unordered_map<double, Sleeper*> thread_waits;  // 'threads' mode: busy threads, by wait id
  std::vector<Sleeper*> idle;                          // 'threads' mode: parked threads

  // Called with mu held.
  void Complete(double id, int result) {
    bool was_empty = done.empty();
    done.push_back(id);
    done.push_back(result);
    if (was_empty && tsfn != nullptr) napi_call_threadsafe_function(tsfn, nullptr, napi_tsfn_nonblocking);
  }

  void Run(WaiterThread* self) {
    struct futex_waitv v[kPerThread + 1];
    std::vector<double> ids;
    for (;;) {
      size_t n = 0;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stop) return;
        v[0] = {self->control.load(), reinterpret_cast<uint64_t>(&self->control), FUTEX_32, 0};
        ids.clear();
        for (const Entry& e : self->entries) {
          v[++n] = {static_cast<uint32_t>(e.expected), reinterpret_cast<uint64_t>(e.word), FUTEX_32, 0};
          ids.push_back(e.id);
        }
      }
      long rc = syscall(SYS_futex_waitv, v, n + 1, 0, nullptr, CLOCK_MONOTONIC);
      int err = rc < 0 ? errno : 0;
      std::lock_guard<std::mutex> lock(mu);
      if (stop) return;
      auto& es = self->entries;
      if (rc > 0) {
        double id = ids[rc - 1];
        bool live = false;
        for (size_t i = 0; i < es.size(); i++) {
          if (es[i].id == id) {
            es.erase(es.begin() + i);
            Complete(id, kOk);
            live = true;
            break;
          }
        }
        // The wake landed on a wait cancelled while we slept (its entry is
        // gone): a notify(1) meant for another sleeper of that word was spent
        // here, so pass it on. The word may be unmapped by now: the kernel
        // answers EFAULT, and a reused address gets one spurious wake, which
        // every futex user must tolerate.
        if (!live) Futex(reinterpret_cast<void*>(v[rc].uaddr), FUTEX_WAKE, 1, nullptr);
      } else if (rc < 0 && err != EINTR) {
        // EAGAIN: some word no longer holds its expected value: those waits
        // are over. Any other error (EFAULT): end them all rather than hang.
        for (size_t i = 0; i < es.size();) {
          if (err != EAGAIN || es[i].word->load() != es[i].expected) {
            Complete(es[i].id, kOk);
            es.erase(es.begin() + i);
          } else {
            i++;
          }
        }
      }
    }
  }

  // Stops and joins the waiter threads. Idempotent; runs from the TSFN's
  // finalizer or the env's instance-data finalizer, whichever comes first.
  void StopThreads() {
    std::vector<std::atomic<int32_t>*> words;
    if (uring != nullptr) {
      // Normally closed already by UringCleanup (an env cleanup hook, which
      // runs before this finalizer). Closed here without a close callback:
      // the env's loop may not run one any more.
      uring->Close();
      uring = nullptr;
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
      tsfn = nullptr;  // never call a TSFN that is being torn down
      for (auto& entry : thread_waits) {
        entry.second->registered = false;
        entry.second->cancelled = true;
        words.push_back(entry.second->word);
      }
      for (Sleeper* s : idle) {
        s->go.fetch_add(1);
        Futex(&s->go, FUTEX_WAKE_PRIVATE, 1, nullptr);
      }
    }
    // 'threads' mode: not joined; each exits at the wake or its next timeout
    // (at most 1 s) and frees itself. The shared_ptr keeps `this` alive.
    for (std::atomic<int32_t>* word : words) Futex(word, FUTEX_WAKE, INT_MAX, nullptr);
    for (WaiterThread* t : threads) {
      t->Kick();
      t->thread.join();
      delete t;
    }
    threads.clear();
  }

  // The TSFN is finalized by Node at env teardown; releasing it here
  // deadlocks on Node 24, so the destructor only stops the threads.
  ~AsyncWaiters() { StopThreads(); }
};

// The env's instance data and the TSFN each hold a reference: whichever
// finalizer runs last frees the AsyncWaiters.
using WaitersRef = std::shared_ptr<AsyncWaiters>;

void TsfnFinalize(napi_env, void* data, void*) {
  WaitersRef* ref = static_cast<WaitersRef*>(data);
  (*ref)->StopThreads();
  delete ref;
}

// Whether this env's pending waits keep its event loop alive: the ring's poll
// handle, or the thread-safe function the waiter threads deliver through.
void KeepLoopAlive(napi_env env, AsyncWaiters* w, bool on) {
  if (w->refed == on) return;
  if (w->uring != nullptr)
    w->uring->Ref(on);
  else if (w->tsfn != nullptr && on)
    napi_ref_threadsafe_function(env, w->tsfn);
  else if (w->tsfn != nullptr)
    napi_unref_threadsafe_function(env, w->tsfn);
  w->refed = on;
}

// Counts `n` waits as delivered; after the last one the event loop may exit again.
void CountDelivered(napi_env env, AsyncWaiters* w, uint32_t n) {
  w->pending = w->pending > n ? w->pending - n : 0;
  if (w->pending == 0) KeepLoopAlive(env, w, false);
}

// A flat [id, result, id, result, ...] batch as a JS array; nullptr when JS
// can no longer run. Plain N-API calls whose failure ends the delivery: in a
// worker thread being terminated they fail, and node-addon-api's wrappers
// would answer that failure with a throw that aborts the process.
napi_value BatchArray(napi_env env, const std::vector<double>& batch) {
  napi_value arr;
  if (napi_create_array_with_length(env, batch.size(), &arr) != napi_ok) return nullptr;
  for (size_t i = 0; i < batch.size(); i++) {
    napi_value value;
    if (napi_create_double(env, batch[i], &value) != napi_ok) return nullptr;
    if (napi_set_element(env, arr, static_cast<uint32_t>(i), value) != napi_ok) return nullptr;
  }
  return arr;
}

// The thread-safe function's call: the batch the waiter threads collected.
void Deliver(napi_env env, napi_value js_cb, void* context, void*) {
  if (env == nullptr) return;
  AsyncWaiters* w = static_cast<AsyncWaiters*>(context);
  std::vector<double> batch;
  {
    std::lock_guard<std::mutex> lock(w->mu);
    batch.swap(w->done);
  }
  if (batch.empty()) return;
  CountDelivered(env, w, static_cast<uint32_t>(batch.size() / 2));
  napi_value arr = BatchArray(env, batch);
  napi_value undefined;
  if (arr == nullptr || napi_get_undefined(env, &undefined) != napi_ok) return;
  napi_call_function(env, undefined, js_cb, 1, &arr, nullptr);
}

// 'uring' mode: the ring's completions, on the env's thread from its libuv
// poll callback, so the call goes through a callback scope (microtasks run
// after it, as after any I/O callback).
void DeliverUring(void* context, const std::vector<double>& ids) {
  AsyncWaiters* w = static_cast<AsyncWaiters*>(context);
  napi_env env = w->env;
  CountDelivered(env, w, static_cast<uint32_t>(ids.size()));
  std::vector<double> batch;
  batch.reserve(ids.size() * 2);
  for (double id : ids) {
    batch.push_back(id);
    batch.push_back(kOk);
  }
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, arr = nullptr;
  if (napi_get_reference_value(env, w->callback, &fn) == napi_ok && fn != nullptr &&
      napi_get_global(env, &recv) == napi_ok && (arr = BatchArray(env, batch)) != nullptr) {
    if (napi_make_callback(env, w->async_context, recv, fn, 1, &arr, nullptr) == napi_pending_exception) {
      napi_value error;
      if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
    }
  }
  napi_close_handle_scope(env, scope);
}

AsyncWaiters* Waiters(Napi::Env env) { return env.GetInstanceData<WaitersRef>()->get(); }

// futex_waitv exists from Linux 5.16: it answers this empty call with EINVAL.
// Older kernels answer ENOSYS; a seccomp filter ENOSYS or EPERM (older Docker
// profiles): anything but EINVAL means it cannot be used.
bool HaveWaitv() {
  static const bool have = syscall(SYS_futex_waitv, nullptr, 0, 0, nullptr, CLOCK_MONOTONIC) == -1 && errno == EINVAL;
  return have;
}

// The best mode with waiter threads: where there is no io_uring, or a thread's ring failed.
Mode ThreadMode() { return HaveWaitv() ? Mode::kWaitv : Mode::kThreads; }

bool Forced(const char* name) {
  const char* value = getenv(name);
  return value != nullptr && value[0] != 0 && strcmp(value, "0") != 0;
}

// The async mode, chosen once per process: IPC_NO_FUTEX_WAITV set (and not
// "0") forces 'threads'; IPC_NO_IO_URING skips 'uring'; otherwise the probes
// decide, best first.
Mode ProcessMode() {
  static const Mode mode = [] {
    if (Forced("IPC_NO_FUTEX_WAITV")) return Mode::kThreads;
    if (!Forced("IPC_NO_IO_URING") && UringWaits::Supported()) return Mode::kUring;
    return ThreadMode();
  }();
  return mode;
}

Mode EnvMode(AsyncWaiters* w) {
  if (!w->mode_known) {
    w->mode = ProcessMode();
    w->mode_known = true;
  }
  return w->mode;
}

void RemoveCleanupHook(void* hook) { napi_remove_async_cleanup_hook(static_cast<napi_async_cleanup_hook_handle>(hook)); }

// Env teardown ('uring' mode): closes the ring while the env is alive. A
// worker's env is torn down before its loop runs close callbacks (and, before
// the addon was linked to stay loaded, unloaded the addon then), so the close
// callback must run first: Node waits for an async cleanup hook to remove
// itself, which the poll handle's close callback does.
void UringCleanup(napi_async_cleanup_hook_handle hook, void* arg) {
  AsyncWaiters* w = static_cast<AsyncWaiters*>(arg);
  if (w->callback != nullptr) napi_delete_reference(w->env, w->callback);
  if (w->async_context != nullptr) napi_async_destroy(w->env, w->async_context);
  w->callback = nullptr;
  w->async_context = nullptr;
  UringWaits* uring = w->uring;
  w->uring = nullptr;
  if (uring != nullptr)
    uring->Close(RemoveCleanupHook, hook);
  else
    napi_remove_async_cleanup_hook(hook);
}

// onWaitComplete(fn): fn receives flat [id, result, id, result, ...] batches.
// Sets up this env's mode: its ring, or the thread-safe function the waiter
// threads deliver through.
Napi::Value OnWaitComplete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AsyncWaiters* w = Waiters(env);
  if (w->tsfn != nullptr || w->uring != nullptr || info.Length() < 1 || !info[0].IsFunction())
    return Napi::Number::New(env, -EINVAL);
  if (EnvMode(w) == Mode::kUring) {
    uv_loop_t* loop = nullptr;
    napi_value name = Napi::String::New(env, "ipc-futex-wait");
    if (napi_get_uv_event_loop(env, &loop) == napi_ok &&
        napi_async_init(env, nullptr, name, &w->async_context) == napi_ok &&
        napi_create_reference(env, info[0], 1, &w->callback) == napi_ok)
      w->uring = UringWaits::Open(loop, DeliverUring, w);
    if (w->uring != nullptr) {
      w->env = env;
      napi_async_cleanup_hook_handle hook;
      if (napi_add_async_cleanup_hook(env, UringCleanup, w, &hook) == napi_ok) return Napi::Number::New(env, 0);
      w->uring->Close();
      w->uring = nullptr;
    }
    if (w->callback != nullptr) napi_delete_reference(env, w->callback);
    if (w->async_context != nullptr) napi_async_destroy(env, w->async_context);
    w->callback = nullptr;
    w->async_context = nullptr;
    w->mode = ThreadMode();
  }
  napi_value name = Napi::String::New(env, "ipc-futex-wait");
  if (napi_create_threadsafe_function(env, info[0], nullptr, name, 0, 1,
                                      new WaitersRef(*env.GetInstanceData<WaitersRef>()), TsfnFinalize, w, Deliver,
                                      &w->tsfn) !=
      napi_ok)
    return Napi::Number::New(env, -ENOMEM);
  napi_unref_threadsafe_function(env, w->tsfn);
  return Napi::Number::New(env, 0);
}

constexpr size_t kThreadStack = 64 * 1024;
constexpr long kRecheckMaxMs = 1000;

constexpr size_t kIdleMax = 16;   // parked threads kept per env
constexpr long kIdleMs = 1000;     // a parked thread exits after this long without a wait

// Sleeps on the current wait's word until it is woken, the word changes, or
// the wait is cancelled.
void SleepOnWord(AsyncWaiters* w, Sleeper* s) {
  long ms = 2;
  for (;;) {
    if (s->cancelled.load()) return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    long rc = Futex(s->word, FUTEX_WAIT, static_cast<uint32_t>(s->expected), &ts);
    int err = rc < 0 ? errno : 0;
    if (rc < 0 && (err == ETIMEDOUT || err == EINTR)) {
      if (ms < kRecheckMaxMs) ms = ms * 2 < kRecheckMaxMs ? ms * 2 : kRecheckMaxMs;
      continue;
    }
    // Woken (0), the word no longer holds expected (EAGAIN), or any other
    // error (EFAULT): the wait is over, unless it was cancelled meanwhile.
    std::lock_guard<std::mutex> lock(w->mu);
    if (s->registered) {
      s->registered = false;
      w->Complete(s->id, kOk);
    }
    return;
  }
}

// A 'threads' mode thread: serves a wait, then parks (up to kIdleMax per env,
// for kIdleMs) so the next wait skips pthread_create.
void* RunSleeper(void* arg) {
  Sleeper* s = static_cast<Sleeper*>(arg);
  std::shared_ptr<AsyncWaiters> owner = std::move(s->owner);
  AsyncWaiters* w = owner.get();
  std::unique_lock<std::mutex> lock(w->mu, std::defer_lock);
  for (;;) {
    SleepOnWord(w, s);
    lock.lock();
    w->thread_waits.erase(s->id);
    if (w->stop || w->idle.size() >= kIdleMax) break;
    uint32_t seen = s->go.load();
    w->idle.push_back(s);
    bool assigned = false;
    for (;;) {
      lock.unlock();
      struct timespec ts = {kIdleMs / 1000, (kIdleMs % 1000) * 1000000L};
      long rc = Futex(&s->go, FUTEX_WAIT_PRIVATE, seen, &ts);
      int err = rc < 0 ? errno : 0;
      lock.lock();
      // WaitAsync pops us from `idle` and fills in the wait before bumping `go`.
      if (s->go.load() != seen) {
        assigned = !w->stop;
        break;
      }
      if (w->stop || (rc < 0 && err == ETIMEDOUT)) break;
    }
    if (!assigned) break;
    lock.unlock();
  }
  // Held here: leave `idle` (if still listed) and exit.
  for (size_t i = 0; i < w->idle.size(); i++) {
    if (w->idle[i] == s) {
      w->idle.erase(w->idle.begin() + i);
      break;
    }
  }
  lock.unlock();
  delete s;
  return nullptr;
}

// Starts the detached thread of `s` with a small stack and every signal
// blocked (signals for the process go to other threads). Returns 0 or an errno.
int StartSleeper(Sleeper* s) {
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return ENOMEM;
  pthread_attr_setstacksize(&attr, kThreadStack);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t thread;
  int rc = pthread_create(&thread, &attr, RunSleeper, s);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  return rc;
}

// waitMode() -> 'waitv' | 'threads': how async waits sleep in this process.
// yieldThread(): sched_yield(). A spinning waiter gives its CPU to a peer
// that shares it, so both ends of a pipe on one CPU answer within a spin.
Napi::Value YieldThread(const Napi::CallbackInfo& info) {
  sched_yield();
  return info.Env().Undefined();
}

Napi::Value WaitMode(const Napi::CallbackInfo& info) {
  static const char* const kNames[] = {"uring", "waitv", "threads"};
  return Napi::String::New(info.Env(), kNames[static_cast<int>(EnvMode(Waiters(info.Env())))]);
}

// waitAsync(i32, index, expected, id) -> 0 registered | 1 not-equal | 2 not shared memory | -errno
// (-EAGAIN when a 'threads' wait cannot get a thread).
Napi::Value WaitAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AsyncWaiters* w = Waiters(env);
  bool shared = false;
  std::atomic<int32_t>* word = WordAt(info, &shared);
  int32_t expected;
  double id;
  if ((w->tsfn == nullptr && w->uring == nullptr) || w->stop || word == nullptr || !ArgInt32(info, 2, &expected) ||
      !ArgWaitId(info, 3, &id))
    return Napi::Number::New(env, -EINVAL);
  if (!shared) return Napi::Number::New(env, kNotShared);
  if (word->load() != expected) return Napi::Number::New(env, kNotEqual);
  if (w->uring != nullptr) {
    if (int rc = w->uring->Wait(id, word, expected); rc < 0) return Napi::Number::New(env, rc);
  } else if (EnvMode(w) == Mode::kThreads) {
    // Under mu, so the thread cannot end and erase itself before it is listed.
    std::lock_guard<std::mutex> lock(w->mu);
    bool fresh = w->idle.empty();
    Sleeper* s;
    if (fresh) {
      s = new Sleeper();
      s->owner = *env.GetInstanceData<WaitersRef>();
    } else {
      s = w->idle.back();
      w->idle.pop_back();
    }
    s->id = id;
    s->word = word;
    s->expected = expected;
    s->registered = true;
    s->cancelled = false;
    w->thread_waits.emplace(id, s);
    if (!fresh) {
      s->go.fetch_add(1);
      Futex(&s->go, FUTEX_WAKE_PRIVATE, 1, nullptr);
    } else if (int rc = StartSleeper(s); rc != 0) {
      w->thread_waits.erase(id);
      delete s;
      return Napi::Number::New(env, -rc);
    }
  } else {
    std::lock_guard<std::mutex> lock(w->mu);
    WaiterThread* target = nullptr;
    for (WaiterThread* t : w->threads) {
      if (t->entries.size() < kPerThread) {
        target = t;
        break;
      }
    }
    if (target == nullptr) {
      target = new WaiterThread();
      w->threads.push_back(target);
      target->thread = std::thread([w, target] { w->Run(target); });
    }
    target->entries.push_back({id, word, expected});
    target->Kick();
  }
  if (w->pending++ == 0) KeepLoopAlive(env, w, true);
  return Napi::Number::New(env, 0);
}

// cancelWait(id) -> true if the wait was still registered (it is now gone and
// will never complete); false if it already completed (its result is queued).
Napi::Value CancelWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AsyncWaiters* w = Waiters(env);
  double id;
  if (!ArgWaitId(info, 0, &id)) return Napi::Boolean::New(env, false);
  bool found = false;
  std::atomic<int32_t>* wake = nullptr;
  if (w->uring != nullptr) {
    found = w->uring->Cancel(id);
  } else {
    std::lock_guard<std::mutex> lock(w->mu);
    auto it = w->thread_waits.find(id);
    if (it != w->thread_waits.end() && it->second->registered) {
      it->second->registered = false;
      it->second->cancelled = true;
      wake = it->second->word;
      found = true;
    }
    for (WaiterThread* t : w->threads) {
      if (found) break;
      for (size_t i = 0; i < t->entries.size(); i++) {
        if (t->entries[i].id == id) {
          t->entries.erase(t->entries.begin() + i);
          t->Kick();
          found = true;
          break;
        }
      }
      if (found) break;
    }
  }
  // Wakes the cancelled thread, and every other sleeper of the word (spuriously).
  if (wake != nullptr) Futex(wake, FUTEX_WAKE, INT_MAX, nullptr);
  if (found) CountDelivered(env, w, 1);
  return Napi::Boolean::New(env, found);
}

}  // namespace

void InitFutex(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData<WaitersRef>(new WaitersRef(new AsyncWaiters()));
  exports.Set("futexWait", Napi::Function::New(env, FutexWait, "futexWait"));
  exports.Set("futexWake", Napi::Function::New(env, FutexWake, "futexWake"));
  exports.Set("onWaitComplete", Napi::Function::New(env, OnWaitComplete, "onWaitComplete"));
  exports.Set("waitAsync", Napi::Function::New(env, WaitAsync, "waitAsync"));
  exports.Set("cancelWait", Napi::Function::New(env, CancelWait, "cancelWait"));
  exports.Set("waitMode", Napi::Function::New(env, WaitMode, "waitMode"));
  exports.Set("yieldThread", Napi::Function::New(env, YieldThread, "yieldThread"));
}

}  // namespace ipc
