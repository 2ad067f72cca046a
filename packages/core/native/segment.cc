// shm_open / ftruncate / mmap / munmap / shm_unlink.
//
// Every function returns a negative errno on failure instead of throwing; the
// TypeScript layer (src/memory/segment.ts) turns errnos into typed errors. A mapping is
// exposed as an external ArrayBuffer. `unmap` detaches the buffer first (views
// then read as length 0, never as freed memory) and only then calls munmap.
//
// Trust: nothing is mapped or read unless `Trusted` accepts the fstat of the
// open fd (a regular file owned by our effective uid, no group/other bits).
// Names are opened with O_NOFOLLOW (no symlinks) and O_NONBLOCK (a FIFO never
// blocks the open). The checks run on the fd, so the file checked is the file
// mapped. A file that another user may write could be truncated under our
// mapping (SIGBUS), so it is never mapped; `shmStat` reads a header with pread,
// which returns short instead of faulting.
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace ipc {
namespace {

constexpr double kMaxSize = 1099511627776.0;  // 1 TiB: far above any real use.

// One mapping. It is the finalize hint of its ArrayBuffer, so a finalizer that
// runs after an explicit unmap (and after mmap has reused the address) only
// frees this record and never touches the new mapping.
struct ExitStore {
  napi_env env;  // the JS thread that armed it
  double id;
  size_t offset;
  int32_t value;
};

struct Mapping {
  void* addr;
  size_t len;
  bool unmapped;
  // 32-bit stores to make when the JS thread that armed them ends without
  // closing the segment (even by worker.terminate(), which runs no JS exit
  // handler): they mark the thread's segment slots dead, so that other
  // threads and processes reap them. Made by the env cleanup hook or by the
  // finalizer, whichever runs first at the thread's teardown.
  std::vector<ExitStore> stores;
};

// Live mappings of this process by address (for `unmap(buffer)`), and armed
// exit stores by id. Shared by all threads (envs), hence the mutex, which
// also guards every Mapping's fields.
std::mutex g_maps_mu;
std::unordered_map<void*, Mapping*> g_maps;
std::unordered_map<double, Mapping*> g_stores;

bool ValidName(const std::string& name) {
  // POSIX: one leading slash, no other; NAME_MAX is 255.
  if (name.size() < 2 || name.size() > 255 || name[0] != '/') return false;
  return name.find('/', 1) == std::string::npos && name.find('\0') == std::string::npos;
}

// Forgets the exit stores of m. Called with g_maps_mu held.
void DropStores(Mapping* m) {
  for (const ExitStore& st : m->stores) g_stores.erase(st.id);
  m->stores.clear();
}

// The ArrayBuffer's finalizer; the hint is the Mapping, so a finalizer that
// runs after an explicit unmap (and after mmap has reused the address) only
// frees this record and never touches the new mapping.
void Finalize(napi_env, void*, void* hint) {
  Mapping* m = static_cast<Mapping*>(hint);
  {
    std::lock_guard<std::mutex> lock(g_maps_mu);
    if (!m->unmapped) {
      // Collected while mapped: its thread is being torn down (or leaked the
      // segment); either way nobody uses the slots any more.
      for (const ExitStore& st : m->stores)
        __atomic_store_n(reinterpret_cast<int32_t*>(static_cast<char*>(m->addr) + st.offset), st.value,
                         __ATOMIC_SEQ_CST);
      DropStores(m);
      g_maps.erase(m->addr);
      munmap(m->addr, m->len);
    }
  }
  delete m;
}

// Env cleanup hook: makes the exit stores of the JS thread that is ending.
void RunExitStores(void* arg) {
  napi_env env = static_cast<napi_env>(arg);
  std::lock_guard<std::mutex> lock(g_maps_mu);
  for (auto& entry : g_maps) {
    Mapping* m = entry.second;
    auto& stores = m->stores;
    for (size_t i = 0; i < stores.size();) {
      if (stores[i].env != env) {
        i++;
        continue;
      }
      __atomic_store_n(reinterpret_cast<int32_t*>(static_cast<char*>(m->addr) + stores[i].offset), stores[i].value,
                       __ATOMIC_SEQ_CST);
      g_stores.erase(stores[i].id);
      stores.erase(stores.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }
}

// armStore(buffer, byteOffset, value) -> id (> 0) | -errno. See Mapping::stores.
Napi::Value ArmStore(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsArrayBuffer() || !info[1].IsNumber() || !info[2].IsNumber())
    return Napi::Number::New(env, -EINVAL);
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  double offset = info[1].As<Napi::Number>().DoubleValue();
  double value = info[2].As<Napi::Number>().DoubleValue();
  if (!(offset >= 0) || offset != static_cast<double>(static_cast<size_t>(offset)) ||
      static_cast<size_t>(offset) % 4 != 0 || !(value >= INT32_MIN && value <= INT32_MAX) ||
      value != static_cast<double>(static_cast<int32_t>(value)))
    return Napi::Number::New(env, -EINVAL);
  std::lock_guard<std::mutex> lock(g_maps_mu);
  auto it = g_maps.find(ab.Data());
  if (ab.Data() == nullptr || it == g_maps.end()) return Napi::Number::New(env, -EINVAL);
  static double next_id = 0;
  double id = ++next_id;
  Mapping* m = it->second;
  if (static_cast<size_t>(offset) + 4 > m->len) return Napi::Number::New(env, -EINVAL);
  m->stores.push_back({env, id, static_cast<size_t>(offset), static_cast<int32_t>(value)});
  g_stores[id] = m;
  return Napi::Number::New(env, id);
}

// disarmStore(id) -> true if it was armed (and now is not).
Napi::Value DisarmStore(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return Napi::Boolean::New(env, false);
  double id = info[0].As<Napi::Number>().DoubleValue();
  std::lock_guard<std::mutex> lock(g_maps_mu);
  auto it = g_stores.find(id);
  if (it == g_stores.end()) return Napi::Boolean::New(env, false);
  auto& stores = it->second->stores;
  for (size_t i = 0; i < stores.size(); i++) {
    if (stores[i].id == id) {
      stores.erase(stores.begin() + static_cast<std::ptrdiff_t>(i));
      break;
    }
  }
  g_stores.erase(it);
  return Napi::Boolean::New(env, true);
}

// The largest buffer this Node.js can make (buffer.constants.MAX_LENGTH: 4 GiB
// on Node 20), used when a caller passes none. JS passes the real one.
constexpr double kDefaultMaxBytes = 4294967296.0;

// Reads the optional maxBytes argument i: a positive integer, else the default.
// False for anything else (the caller answers -EINVAL).
bool ArgMaxBytes(const Napi::CallbackInfo& info, size_t i, double* out) {
  *out = kDefaultMaxBytes;
  if (info.Length() <= i || info[i].IsUndefined()) return true;
  if (!info[i].IsNumber()) return false;
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 1) || d != static_cast<double>(static_cast<int64_t>(d))) return false;
  *out = d;
  return true;
}

// Maps the first `size` bytes of fd (whose fstat is st) and returns
// { buffer, size, inode } or a negative errno: -EFBIG when size is above
// max_bytes, the largest buffer Node can wrap around it. That check comes
// first because Node's own failure there is unsafe to clean up after: it runs
// the finalizer (Finalize: unmap, delete) and then reports the failure.
Napi::Value MapFd(Napi::Env env, int fd, const struct stat& st, size_t size, double max_bytes) {
  if (size == 0 || static_cast<off_t>(size) > st.st_size) return Napi::Number::New(env, -EINVAL);
  if (static_cast<double>(size) > max_bytes) return Napi::Number::New(env, -EFBIG);
  void* addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) return Napi::Number::New(env, -errno);
  Mapping* m = new Mapping{addr, size, false, {}};
  {
    std::lock_guard<std::mutex> lock(g_maps_mu);
    g_maps[addr] = m;
  }
  napi_value ab;
  if (napi_create_external_arraybuffer(env, addr, size, Finalize, m, &ab) != napi_ok) {
    // Not expected after the size check (an out-of-memory or a dying env).
    // Node may or may not have run Finalize on m already, so neither m nor the
    // mapping is touched here: a leak on this path, never a double free. The
    // JS exception it may have left is dropped for our own answer.
    bool pending = false;
    napi_value ignored;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
    return Napi::Number::New(env, -ENOMEM);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("buffer", Napi::Value(env, ab));
  out.Set("size", Napi::Number::New(env, static_cast<double>(size)));
  out.Set("inode", Napi::Number::New(env, static_cast<double>(st.st_ino)));
  return out;
}

// The one trust rule: 0 when st is a regular file of our effective uid with no
// group/other permission bits; -EACCES otherwise.
int Trusted(const struct stat& st) {
  if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0) return -EACCES;
  return 0;
}

// Opens an existing name without following a symlink or blocking on a FIFO.
// Names that cannot be a segment (a symlink, a directory, a socket) fail with
// -EACCES, like files we may not open: refused, not missing.
int OpenExisting(const std::string& name, int access) {
  int fd = shm_open(name.c_str(), access | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd >= 0) return fd;
  int err = errno;
  // glibc's shm_open reports a directory as EINVAL (its names are checked
  // before: ValidName), so EINVAL here is a directory too.
  if (err == ELOOP || err == EISDIR || err == EINVAL || err == ENXIO || err == EPERM) err = EACCES;
  return -err;
}

// Reserves the pages of [0, size) of fd (posix_fallocate), in chunks. Older
// kernels' tmpfs gives up a fallocate with EINTR whenever any signal is
// pending (a child's SIGCHLD, say: newer ones only for a fatal signal) and
// undoes the whole call; so each chunk is retried, and a chunk small enough
// to finish between signals makes progress. Gives EINTR only after
// kMaxInterrupts in a row. Returns 0 or an errno.
int ReservePages(int fd, off_t size) {
  constexpr off_t kChunk = 1 << 20;
  constexpr int kMaxInterrupts = 1000;
  int interrupts = 0;
  for (off_t at = 0; at < size;) {
    off_t len = size - at < kChunk ? size - at : kChunk;
    int err = posix_fallocate(fd, at, len);
    if (err == EINTR && ++interrupts < kMaxInterrupts) continue;
    if (err != 0) return err;
    interrupts = 0;
    at += len;
  }
  return 0;
}

bool ArgName(const Napi::CallbackInfo& info, size_t i, std::string* out) {
  if (info.Length() <= i || !info[i].IsString()) return false;
  *out = info[i].As<Napi::String>().Utf8Value();
  return ValidName(*out);
}

// shmCreate(name, size, mode[, firstWord = 0[, maxBytes]]) -> { buffer, size, inode } | -errno.
// Fails with -EEXIST, and with -EFBIG before creating anything when size is
// above maxBytes (see MapFd). Writes the int32 firstWord at offset 0 before the file
// gets its size (src/memory/segment.ts passes its "initialising" magic), so a creator
// that dies any time after that leaves a file the cleanup scan knows as ours.
Napi::Value ShmCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ArgName(info, 0, &name) || info.Length() < 3 || !info[1].IsNumber() || !info[2].IsNumber() ||
      (info.Length() > 3 && !info[3].IsNumber()))
    return Napi::Number::New(env, -EINVAL);
  double size = info[1].As<Napi::Number>().DoubleValue();
  double mode = info[2].As<Napi::Number>().DoubleValue();
  double first = info.Length() > 3 ? info[3].As<Napi::Number>().DoubleValue() : 0;
  double max_bytes;
  if (!(size >= 4 && size <= kMaxSize) || size != static_cast<double>(static_cast<int64_t>(size)) ||
      !(mode >= 0 && mode <= 0700) || !(first >= INT32_MIN && first <= INT32_MAX) ||
      first != static_cast<double>(static_cast<int32_t>(first)) || !ArgMaxBytes(info, 4, &max_bytes))
    return Napi::Number::New(env, -EINVAL);
  if (size > max_bytes) return Napi::Number::New(env, -EFBIG);
  int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, static_cast<mode_t>(mode));
  if (fd < 0) return Napi::Number::New(env, -errno);
  // shm_open applies the umask; fchmod sets exactly the mode asked for.
  // posix_fallocate reserves the pages now, so a full /dev/shm fails here
  // with ENOSPC rather than with SIGBUS at the first write.
  // The first word goes in before the size, so the file is never a full-size
  // segment without it.
  int32_t word = static_cast<int32_t>(first);
  int err = 0;
  errno = 0;
  if (fchmod(fd, static_cast<mode_t>(mode)) != 0 || pwrite(fd, &word, sizeof word, 0) != sizeof word ||
      ftruncate(fd, static_cast<off_t>(size)) != 0)
    err = errno == 0 ? EIO : errno;
  if (err == 0) err = ReservePages(fd, static_cast<off_t>(size));
  if (err != 0) {
    close(fd);
    shm_unlink(name.c_str());
    return Napi::Number::New(env, -err);
  }
  struct stat st;
  Napi::Value out =
      fstat(fd, &st) == 0 ? MapFd(env, fd, st, static_cast<size_t>(size), max_bytes) : Napi::Number::New(env, -errno);
  close(fd);
  if (out.IsNumber()) shm_unlink(name.c_str());
  return out;
}

// shmOpen(name, minBytes[, maxBytes]) -> { buffer, size, inode } | -errno. Maps
// the whole object after the checks on its fd: -EACCES when Trusted refuses it
// (or it cannot be a segment at all), -EINVAL when it is smaller than
// minBytes, -EFBIG when it is larger than maxBytes (see MapFd). So nothing
// another user can write or truncate is ever mapped.
Napi::Value ShmOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ArgName(info, 0, &name) || info.Length() < 2 || !info[1].IsNumber()) return Napi::Number::New(env, -EINVAL);
  double min = info[1].As<Napi::Number>().DoubleValue();
  double max_bytes;
  if (!(min >= 0 && min <= kMaxSize) || min != static_cast<double>(static_cast<int64_t>(min)) ||
      !ArgMaxBytes(info, 2, &max_bytes))
    return Napi::Number::New(env, -EINVAL);
  int fd = OpenExisting(name, O_RDWR);
  if (fd < 0) return Napi::Number::New(env, fd);
  struct stat st;
  int rc = fstat(fd, &st) != 0 ? -errno : Trusted(st);
  if (rc == 0 && (st.st_size < static_cast<off_t>(min) || st.st_size == 0)) rc = -EINVAL;
  // Larger than anything we map: refused as too large (not as too short, which an opener retries).
  if (rc == 0 && static_cast<double>(st.st_size) > kMaxSize) rc = -EFBIG;
  Napi::Value out =
      rc == 0 ? MapFd(env, fd, st, static_cast<size_t>(st.st_size), max_bytes) : Napi::Number::New(env, rc);
  close(fd);
  return out;
}

// shmStat(name[, into]) -> { size, inode, mtimeMs, uid, mode, trusted, bytesRead } | -errno.
// Never maps. `trusted` is Trusted(fstat). When `into` (a Uint8Array) is given
// and the file is trusted, reads its first bytes into it with pread, which a
// concurrent truncate only shortens (bytesRead), never turns into a SIGBUS.
Napi::Value ShmStat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ArgName(info, 0, &name)) return Napi::Number::New(env, -EINVAL);
  uint8_t* into = nullptr;
  size_t capacity = 0;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      return Napi::Number::New(env, -EINVAL);
    Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
    into = bytes.Data();
    capacity = bytes.ByteLength();
  }
  int fd = OpenExisting(name, O_RDONLY);
  if (fd < 0) return Napi::Number::New(env, fd);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return Napi::Number::New(env, -err);
  }
  bool trusted = Trusted(st) == 0;
  ssize_t got = 0;
  if (trusted && capacity > 0) {
    do got = pread(fd, into, capacity, 0);
    while (got < 0 && errno == EINTR);
    if (got < 0) got = 0;
  }
  close(fd);
  Napi::Object out = Napi::Object::New(env);
  out.Set("size", Napi::Number::New(env, static_cast<double>(st.st_size)));
  out.Set("inode", Napi::Number::New(env, static_cast<double>(st.st_ino)));
  out.Set("mtimeMs", Napi::Number::New(env, st.st_mtim.tv_sec * 1e3 + st.st_mtim.tv_nsec / 1e6));
  out.Set("uid", Napi::Number::New(env, static_cast<double>(st.st_uid)));
  out.Set("mode", Napi::Number::New(env, static_cast<double>(st.st_mode)));
  out.Set("trusted", Napi::Boolean::New(env, trusted));
  out.Set("bytesRead", Napi::Number::New(env, static_cast<double>(got)));
  return out;
}

// geteuid() -> the effective uid of this process (for error messages).
Napi::Value EffectiveUid(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(geteuid()));
}

// shmUnlink(name) -> 0 | -errno.
Napi::Value ShmUnlink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ArgName(info, 0, &name)) return Napi::Number::New(env, -EINVAL);
  return Napi::Number::New(env, shm_unlink(name.c_str()) == 0 ? 0 : -errno);
}

// unmap(buffer) -> 0 | -errno. Detaches the ArrayBuffer, then munmaps. Idempotent.
Napi::Value Unmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) return Napi::Number::New(env, -EINVAL);
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  void* data = ab.Data();
  if (data == nullptr) return Napi::Number::New(env, 0);
  std::lock_guard<std::mutex> lock(g_maps_mu);
  auto it = g_maps.find(data);
  // The buffer must be the one that owns this mapping: same address and length.
  if (it == g_maps.end() || it->second->unmapped || it->second->len != ab.ByteLength())
    return Napi::Number::New(env, 0);
  Mapping* m = it->second;
  g_maps.erase(it);
  DropStores(m);
  m->unmapped = true;
  napi_detach_arraybuffer(env, ab);
  return Napi::Number::New(env, munmap(m->addr, m->len) == 0 ? 0 : -errno);
}

// isMapping(buffer) -> true while buffer is a live mapping of ours (not unmapped).
Napi::Value IsMapping(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) return Napi::Boolean::New(env, false);
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  return Napi::Boolean::New(env, ab.Data() != nullptr && IsLiveMapping(ab.Data(), ab.ByteLength()));
}

}  // namespace

bool IsLiveMapping(const void* data, size_t len) {
  std::lock_guard<std::mutex> lock(g_maps_mu);
  auto it = g_maps.find(const_cast<void*>(data));
  return it != g_maps.end() && !it->second->unmapped && it->second->len == len;
}

void InitSegment(Napi::Env env, Napi::Object exports) {
  exports.Set("shmCreate", Napi::Function::New(env, ShmCreate, "shmCreate"));
  exports.Set("shmOpen", Napi::Function::New(env, ShmOpen, "shmOpen"));
  exports.Set("shmStat", Napi::Function::New(env, ShmStat, "shmStat"));
  exports.Set("effectiveUid", Napi::Function::New(env, EffectiveUid, "effectiveUid"));
  exports.Set("shmUnlink", Napi::Function::New(env, ShmUnlink, "shmUnlink"));
  exports.Set("unmap", Napi::Function::New(env, Unmap, "unmap"));
  exports.Set("isMapping", Napi::Function::New(env, IsMapping, "isMapping"));
  napi_add_env_cleanup_hook(env, RunExitStores, static_cast<napi_env>(env));
  exports.Set("armStore", Napi::Function::New(env, ArmStore, "armStore"));
  exports.Set("disarmStore", Napi::Function::New(env, DisarmStore, "disarmStore"));
}

}  // namespace ipc
