// Async futex waits on an io_uring (Linux 6.7+): a wake-up completes the
// wait in the kernel and wakes the JS thread's event loop itself, with no
// waiter thread in between.
#pragma once
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <unordered_set>
#include <vector>

namespace ipc {

class UringWaits {
 public:
  // Delivers the ids of finished waits, on the loop's thread.
  using Ready = void (*)(void* context, const std::vector<double>& ids);

  // Whether this process can use it (probed once: io_uring_setup allowed,
  // IORING_OP_FUTEX_WAIT and IORING_REGISTER_SYNC_CANCEL known).
  static bool Supported();
  // A ring whose completions `ready` receives; nullptr if it cannot be set up.
  static UringWaits* Open(uv_loop_t* loop, Ready ready, void* context);

  // Registers a wait for `word` to be woken while it holds `expected`: 0 or -errno.
  int Wait(double id, std::atomic<int32_t>* word, int32_t expected);
  // True: the wait is gone and will never be delivered. False: it finished
  // (woken), and its id is delivered (or about to be).
  bool Cancel(double id);
  // Whether the ring keeps the event loop alive (while waits are pending).
  void Ref(bool on);
  // Cancels the pending waits (off the futex queues when this returns),
  // closes the ring and frees this object.
  // The poll handle's memory is freed by libuv's close callback, which then
  // runs `closed(arg)`; with `closed` null there is no callback (the handle's
  // few bytes stay allocated): for a teardown after which this library may
  // be unloaded before libuv runs close callbacks.
  void Close(void (*closed)(void* arg) = nullptr, void* arg = nullptr);

 private:
  UringWaits() = default;
  void Reap();
  static void OnReadable(uv_poll_t* handle, int status, int events);

  int fd_ = -1;
  void* ring_ = nullptr;
  size_t ring_bytes_ = 0;
  void* sqes_ = nullptr;
  size_t sqes_bytes_ = 0;
  std::atomic<uint32_t>* sq_tail_ = nullptr;
  std::atomic<uint32_t>* sq_flags_ = nullptr;
  uint32_t* sq_array_ = nullptr;
  uint32_t sq_mask_ = 0;
  std::atomic<uint32_t>* cq_head_ = nullptr;
  std::atomic<uint32_t>* cq_tail_ = nullptr;
  uint32_t cq_mask_ = 0;
  void* cqes_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  Ready ready_ = nullptr;
  void* context_ = nullptr;
  std::vector<double> ids_;
  std::unordered_set<uint64_t> cancelled_;  // cancelled by us; their completion is skipped
};

}  // namespace ipc
