// Async futex waits on an io_uring, without liburing (raw syscalls; the
// kernel ABI structs are declared here, so older system headers do not matter).
//
// Why: in 'waitv' and 'threads' mode a wake-up travels notify -> waiter
// thread -> event loop, two context switches, and the second one wakes a
// thread sleeping in epoll_wait, often on the other (idle) CPU. Measured on a
// 2-CPU VM, C only: futex wake to a thread 8 µs, then that thread's eventfd
// write to a thread in epoll_wait another 45-50 µs. An IORING_OP_FUTEX_WAIT
// is queued in the kernel like a thread's FUTEX_WAIT; the notify (a plain
// FUTEX_WAKE from any process) completes it and queues task work to the
// thread that submitted it, which interrupts that thread's epoll_wait: 8 µs,
// the same as a sync wait.
//
// One ring per JS thread (napi_env), used only from that thread: waits are
// submitted one at a time (io_uring_enter, to_submit 1), cancelled with
// IORING_REGISTER_SYNC_CANCEL (synchronous, no completion of its own), and
// their completions read when libuv reports the ring's fd readable. A wait
// ends exactly once: the kernel's cancel succeeds only while the futex entry
// is still queued (then the wait completes -ECANCELED, which is skipped), and
// fails (ENOENT) once a wake-up took it (then it completes 0 and is
// delivered). A cancel failing otherwise counts as done (see Cancel). After
// a successful cancel the kernel no longer reads the word, so the segment may
// be unmapped at once.
//
// Completions beyond the CQ ring's 1024 places go to the kernel's overflow
// list (IORING_FEAT_NODROP, required), which Reap() flushes.
#include "uring-waits.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>

namespace ipc {
namespace {

// Kernel ABI (include/uapi/linux/io_uring.h, Linux 6.7).
struct SqRingOffsets {
  uint32_t head, tail, ring_mask, ring_entries, flags, dropped, array, resv1;
  uint64_t user_addr;
};
struct CqRingOffsets {
  uint32_t head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1;
  uint64_t user_addr;
};
struct Params {
  uint32_t sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features, wq_fd, resv[3];
  SqRingOffsets sq_off;
  CqRingOffsets cq_off;
};
struct Sqe {
  uint8_t opcode, flags;
  uint16_t ioprio;
  int32_t fd;         // FUTEX_WAIT: futex2 flags
  uint64_t off;       // FUTEX_WAIT: the expected value
  uint64_t addr;      // FUTEX_WAIT: the word
  uint32_t len, op_flags;
  uint64_t user_data;
  uint16_t buf_index, personality;
  int32_t file_index;
  uint64_t addr3;     // FUTEX_WAIT: the bitset mask
  uint64_t pad;
};
struct Cqe {
  uint64_t user_data;
  int32_t res;
  uint32_t flags;
};
struct SyncCancel {
  uint64_t addr;  // user_data to match
  int32_t fd;
  uint32_t flags;
  int64_t tv_sec, tv_nsec;  // -1, -1: no timeout
  uint8_t opcode, pad[7];
  uint64_t pad2[3];
};
static_assert(sizeof(Params) == 120 && sizeof(Sqe) == 64 && sizeof(Cqe) == 16 && sizeof(SyncCancel) == 64,
              "io_uring ABI");

constexpr uint32_t kSetupCqSize = 1u << 3;
constexpr uint32_t kFeatSingleMmap = 1u << 0;
constexpr uint32_t kFeatNoDrop = 1u << 1;
constexpr uint32_t kSqCqOverflow = 1u << 1;
constexpr uint32_t kEnterGetEvents = 1u << 0;
constexpr uint8_t kOpFutexWait = 51;
constexpr unsigned kRegisterSyncCancel = 24;
constexpr uint32_t kCancelAny = 1u << 2;  // IORING_ASYNC_CANCEL_ANY: all requests
constexpr int32_t kFutex2SizeU32 = 0x02;  // shared (no FUTEX2_PRIVATE): other processes' FUTEX_WAKE reach it
constexpr uint64_t kOffSqRing = 0;
constexpr uint64_t kOffSqes = 0x10000000ULL;
constexpr uint32_t kSqEntries = 16;
constexpr uint32_t kCqEntries = 1024;

long Setup(uint32_t entries, Params* p) { return syscall(__NR_io_uring_setup, entries, p); }
long Enter(int fd, unsigned submit, unsigned complete, unsigned flags) {
  return syscall(__NR_io_uring_enter, fd, submit, complete, flags, nullptr, 0);
}

// IORING_REGISTER_SYNC_CANCEL of the request whose user_data is `user_data`:
// the syscall's result (how many it cancelled, or -1 with errno).
// With kCancelAny, every pending request (user_data ignored).
long SyncCancelOf(int fd, uint64_t user_data, uint32_t flags = 0) {
  SyncCancel c;
  memset(&c, 0, sizeof c);
  c.addr = user_data;
  c.flags = flags;
  c.fd = -1;
  c.tv_sec = -1;
  c.tv_nsec = -1;
  return syscall(__NR_io_uring_register, fd, kRegisterSyncCancel, &c, 1);
}

template <typename T>
T* At(void* base, uint32_t offset) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

}  // namespace

UringWaits* UringWaits::Open(uv_loop_t* loop, Ready ready, void* context) {
  Params p;
  memset(&p, 0, sizeof p);
  p.flags = kSetupCqSize;
  p.cq_entries = kCqEntries;
  int fd = static_cast<int>(Setup(kSqEntries, &p));
  if (fd < 0) return nullptr;
  UringWaits* u = new UringWaits();
  u->fd_ = fd;
  if ((p.features & (kFeatSingleMmap | kFeatNoDrop)) != (kFeatSingleMmap | kFeatNoDrop)) {
    u->Close();
    return nullptr;
  }
  size_t sq_bytes = p.sq_off.array + p.sq_entries * sizeof(uint32_t);
  size_t cq_bytes = p.cq_off.cqes + p.cq_entries * sizeof(Cqe);
  u->ring_bytes_ = sq_bytes > cq_bytes ? sq_bytes : cq_bytes;
  u->ring_ = mmap(nullptr, u->ring_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, kOffSqRing);
  u->sqes_bytes_ = p.sq_entries * sizeof(Sqe);
  u->sqes_ = mmap(nullptr, u->sqes_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, kOffSqes);
  if (u->ring_ == MAP_FAILED || u->sqes_ == MAP_FAILED) {
    if (u->ring_ == MAP_FAILED) u->ring_ = nullptr;
    if (u->sqes_ == MAP_FAILED) u->sqes_ = nullptr;
    u->Close();
    return nullptr;
  }
  u->sq_tail_ = At<std::atomic<uint32_t>>(u->ring_, p.sq_off.tail);
  u->sq_flags_ = At<std::atomic<uint32_t>>(u->ring_, p.sq_off.flags);
  u->sq_array_ = At<uint32_t>(u->ring_, p.sq_off.array);
  u->sq_mask_ = *At<uint32_t>(u->ring_, p.sq_off.ring_mask);
  u->cq_head_ = At<std::atomic<uint32_t>>(u->ring_, p.cq_off.head);
  u->cq_tail_ = At<std::atomic<uint32_t>>(u->ring_, p.cq_off.tail);
  u->cq_mask_ = *At<uint32_t>(u->ring_, p.cq_off.ring_mask);
  u->cqes_ = At<void>(u->ring_, p.cq_off.cqes);
  if (loop != nullptr) {
    u->poll_ = new uv_poll_t();
    if (uv_poll_init(loop, u->poll_, fd) != 0) {
      delete u->poll_;
      u->poll_ = nullptr;
      u->Close();
      return nullptr;
    }
    u->poll_->data = u;
    // Without the poll, completions would never be read: the thread uses the next mode.
    if (uv_poll_start(u->poll_, UV_READABLE, OnReadable) != 0) {
      u->Close();
      return nullptr;
    }
    uv_unref(reinterpret_cast<uv_handle_t*>(u->poll_));
  }
  u->ready_ = ready;
  u->context_ = context;
  return u;
}

int UringWaits::Wait(double id, std::atomic<int32_t>* word, int32_t expected) {
  // Only this thread submits, and each submission is consumed before the
  // next: the SQ ring never holds more than one entry.
  uint32_t tail = sq_tail_->load(std::memory_order_relaxed);
  uint32_t index = tail & sq_mask_;
  Sqe* sqe = static_cast<Sqe*>(sqes_) + index;
  memset(sqe, 0, sizeof *sqe);
  sqe->opcode = kOpFutexWait;
  sqe->fd = kFutex2SizeU32;
  sqe->addr = reinterpret_cast<uint64_t>(word);
  sqe->off = static_cast<uint32_t>(expected);
  sqe->addr3 = 0xffffffffu;  // FUTEX_BITSET_MATCH_ANY: every FUTEX_WAKE matches
  sqe->user_data = static_cast<uint64_t>(id);
  sq_array_[index] = index;
  sq_tail_->store(tail + 1, std::memory_order_release);
  // EINTR: again. EAGAIN (no memory for the request) or EBUSY (older kernels
  // refuse submissions while completions overflow the CQ ring): once more,
  // after asking the kernel to flush its overflow list (GETEVENTS without
  // waiting; the completions stay unread for Reap, no JS runs here).
  bool flushed = false;
  for (;;) {
    long rc = Enter(fd_, 1, 0, 0);
    if (rc == 1) return 0;
    int err = rc < 0 ? errno : EAGAIN;
    if (err == EINTR) continue;
    if ((err == EAGAIN || err == EBUSY) && !flushed) {
      flushed = true;
      Enter(fd_, 0, 0, kEnterGetEvents);
      continue;
    }
    // Not consumed (the kernel moves the SQ head only for what it took): take it back.
    sq_tail_->store(tail, std::memory_order_release);
    return -err;
  }
}

bool UringWaits::Cancel(double id) {
  uint64_t user_data = static_cast<uint64_t>(id);
  for (;;) {
    if (SyncCancelOf(fd_, user_data) >= 0) {  // how many it cancelled (1), or 0 for some request kinds
      cancelled_.insert(user_data);
      return true;
    }
    // ENOENT: a wake-up took it first; its completion is queued.
    if (errno == ENOENT) return false;
    // Anything else (not expected once Supported() passed): the caller must
    // not wait for a completion that may never come (a timed-out wait would
    // outlive its timeout), so the wait counts as cancelled. A later
    // completion is skipped (-ECANCELED, via cancelled_) or delivered for an
    // id nobody waits on any more, which JS ignores. Until then the kernel
    // may spend one notify(1) on it: a late wake-up for another waiter of the
    // word, which every caller's slices bound. Unmapping the word meanwhile
    // is safe: only the kernel reads it.
    if (errno != EINTR) {
      cancelled_.insert(user_data);
      return true;
    }
  }
}

void UringWaits::Ref(bool on) {
  if (poll_ == nullptr) return;
  if (on)
    uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
  else
    uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
}

void UringWaits::Reap() {
  ids_.clear();
  for (;;) {
    uint32_t head = cq_head_->load(std::memory_order_relaxed);
    uint32_t tail = cq_tail_->load(std::memory_order_acquire);
    const Cqe* cqes = static_cast<const Cqe*>(cqes_);
    for (; head != tail; head++) {
      const Cqe& c = cqes[head & cq_mask_];
      // 0: woken. -EAGAIN: the word no longer held `expected`. Any result of
      // a wait we cancelled: skipped (Cancel told the caller it ended). Any
      // other result, -ECANCELED from the kernel's own cancel included: end
      // the wait rather than hang; every caller re-checks.
      if (cancelled_.erase(c.user_data) == 1) continue;
      ids_.push_back(static_cast<double>(c.user_data));
    }
    cq_head_->store(head, std::memory_order_release);
    if ((sq_flags_->load(std::memory_order_acquire) & kSqCqOverflow) == 0) break;
    // Moves overflowed completions into the ring. (The kernel allocates an
    // overflow entry with GFP_ATOMIC; if that fails under memory pressure
    // the completion is dropped and its wait ends only with its process.
    // It takes more than 1,024 completions unread at once.)
    if (Enter(fd_, 0, 0, kEnterGetEvents) < 0 && errno != EINTR) break;
  }
  if (!ids_.empty() && ready_ != nullptr) ready_(context_, ids_);
}

void UringWaits::OnReadable(uv_poll_t* handle, int status, int) {
  if (uv_is_closing(reinterpret_cast<uv_handle_t*>(handle)) || status != 0) return;
  static_cast<UringWaits*>(handle->data)->Reap();
}

namespace {
struct Closing {
  void (*closed)(void*);
  void* arg;
};

void OnClosed(uv_handle_t* handle) {
  Closing* closing = static_cast<Closing*>(handle->data);
  delete reinterpret_cast<uv_poll_t*>(handle);
  closing->closed(closing->arg);
  delete closing;
}
}  // namespace

void UringWaits::Close(void (*closed)(void*), void* arg) {
  if (poll_ != nullptr) {
    uv_handle_t* handle = reinterpret_cast<uv_handle_t*>(poll_);
    if (closed != nullptr) {
      handle->data = new Closing{closed, arg};
      uv_close(handle, OnClosed);
    } else {
      handle->data = nullptr;
      uv_close(handle, nullptr);
    }
    poll_ = nullptr;
  }
  if (fd_ >= 0) {
    // The kernel drops a closed ring's waits later, from a work queue; until
    // then each could take a notify(1) meant for a live waiter of its word (a
    // worker thread terminated while it awaited a get). Cancelled here, they
    // have left the futex queues when this returns. Failure (EINTR aside)
    // leaves them to the kernel's teardown, as before.
    while (SyncCancelOf(fd_, 0, kCancelAny) < 0 && errno == EINTR) {
    }
  }
  if (sqes_ != nullptr) munmap(sqes_, sqes_bytes_);
  if (ring_ != nullptr) munmap(ring_, ring_bytes_);
  if (fd_ >= 0) close(fd_);
  delete this;
}

bool UringWaits::Supported() {
  static const bool supported = [] {
    UringWaits* u = Open(nullptr, nullptr, nullptr);
    if (u == nullptr) return false;
    // A wait on a word that does not hold `expected` completes at once with
    // -EAGAIN where the opcode exists (-EINVAL before Linux 6.7).
    std::atomic<int32_t> word{0};
    bool ok = u->Wait(1, &word, 1) == 0 && Enter(u->fd_, 0, 1, kEnterGetEvents) >= 0;
    if (ok) {
      uint32_t head = u->cq_head_->load();
      ok = head != u->cq_tail_->load() && static_cast<const Cqe*>(u->cqes_)[head & u->cq_mask_].res == -EAGAIN;
      u->cq_head_->store(head + 1);
    }
    // Nothing to cancel: ENOENT where the register opcode exists (EINVAL before 6.0).
    if (ok) ok = SyncCancelOf(u->fd_, 2) == -1 && errno == ENOENT;
    u->Close();
    return ok;
  }();
  return supported;
}

}  // namespace ipc
