// shm_open / ftruncate / mmap / munmap / shm_unlink.
//
// Every function returns a negative errno on failure instead of throwing; the
// TypeScript layer (src/segment.ts) turns errnos into typed errors. A mapping is
// exposed as an external ArrayBuffer. `unmap` detaches the buffer first (views
// then read as length 0, never as freed memory) and only then calls munmap.
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

// Maps fd and returns { buffer, size, inode } or a negative errno.
Napi::Value MapFd(Napi::Env env, int fd, size_t size) {
  struct stat st;
  if (fstat(fd, &st) != 0) return Napi::Number::New(env, -errno);
  if (size == 0) size = static_cast<size_t>(st.st_size);
  if (size == 0 || static_cast<off_t>(size) > st.st_size) return Napi::Number::New(env, -EINVAL);
  void* addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) return Napi::Number::New(env, -errno);
  Mapping* m = new Mapping{addr, size, false, {}};
  {
    std::lock_guard<std::mutex> lock(g_maps_mu);
    g_maps[addr] = m;
  }
  napi_value ab;
  if (napi_create_external_arraybuffer(env, addr, size, Finalize, m, &ab) != napi_ok) {
    std::lock_guard<std::mutex> lock(g_maps_mu);
    g_maps.erase(addr);
    munmap(addr, size);
    delete m;
    return Napi::Number::New(env, -ENOMEM);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("buffer", Napi::Value(env, ab));
  out.Set("size", Napi::Number::New(env, static_cast<double>(size)));
  out.Set("inode", Napi::Number::New(env, static_cast<double>(st.st_ino)));
  return out;
}

bool ArgName(const Napi::CallbackInfo& info, size_t i, std::string* out) {
  if (info.Length() <= i || !info[i].IsString()) return false;
  *out = info[i].As<Napi::String>().Utf8Value();
  return ValidName(*out);
}

// shmCreate(name, size, mode) -> { buffer, size, inode } | -errno. Fails with -EEXIST.
Napi::Value ShmCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ArgName(info, 0, &name) || info.Length() < 3 || !info[1].IsNumber() || !info[2].IsNumber())
    return Napi::Number::New(env, -EINVAL);
  double size = info[1].As<Napi::Number>().DoubleValue();
  double mode = info[2].As<Napi::Number>().DoubleValue();
  if (!(size >= 1 && size <= kMaxSize) || size != static_cast<double>(static_cast<int64_t>(size)) ||
      !(mode >= 0 && mode <= 0777))
    return Napi::Number::New(env, -EINVAL);
  int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, static_cast<mode_t>(mode));
  if (fd < 0) return Napi::Number::New(env, -errno);
  // shm_open applies the umask; fchmod sets exactly the mode asked for.
  // posix_fallocate reserves the pages now, so a full /dev/shm fails here
  // with ENOSPC rather than with SIGBUS at the first write.
  int err = 0;
  if (fchmod(fd, static_cast<mode_t>(mode)) != 0 || ftruncate(fd, static_cast<off_t>(size)) != 0) err = errno;
  if (err == 0) err = posix_fallocate(fd, 0, static_cast<off_t>(size));
  if (err != 0) {
    close(fd);
    shm_unlink(name.c_str());
    return Napi::Number::New(env, -err);
  }
  Napi::Value out = MapFd(env, fd, static_cast<size_t>(size));
  close(fd);
  if (out.IsNumber()) shm_unlink(name.c_str());
  return out;
}

// shmOpen(name, size) -> { buffer, size, inode } | -errno. size 0 maps the whole object.
Napi::Value ShmOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ArgName(info, 0, &name) || info.Length() < 2 || !info[1].IsNumber()) return Napi::Number::New(env, -EINVAL);
  double size = info[1].As<Napi::Number>().DoubleValue();
  if (!(size >= 0 && size <= kMaxSize) || size != static_cast<double>(static_cast<int64_t>(size)))
    return Napi::Number::New(env, -EINVAL);
  int fd = shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) return Napi::Number::New(env, -errno);
  Napi::Value out = MapFd(env, fd, static_cast<size_t>(size));
  close(fd);
  return out;
}

// shmStat(name) -> { size, inode, mtimeMs } | -errno (no mapping).
Napi::Value ShmStat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ArgName(info, 0, &name)) return Napi::Number::New(env, -EINVAL);
  int fd = shm_open(name.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return Napi::Number::New(env, -errno);
  struct stat st;
  int rc = fstat(fd, &st);
  int err = errno;
  close(fd);
  if (rc != 0) return Napi::Number::New(env, -err);
  Napi::Object out = Napi::Object::New(env);
  out.Set("size", Napi::Number::New(env, static_cast<double>(st.st_size)));
  out.Set("inode", Napi::Number::New(env, static_cast<double>(st.st_ino)));
  out.Set("mtimeMs", Napi::Number::New(env, st.st_mtim.tv_sec * 1e3 + st.st_mtim.tv_nsec / 1e6));
  return out;
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

}  // namespace

void InitSegment(Napi::Env env, Napi::Object exports) {
  exports.Set("shmCreate", Napi::Function::New(env, ShmCreate, "shmCreate"));
  exports.Set("shmOpen", Napi::Function::New(env, ShmOpen, "shmOpen"));
  exports.Set("shmStat", Napi::Function::New(env, ShmStat, "shmStat"));
  exports.Set("shmUnlink", Napi::Function::New(env, ShmUnlink, "shmUnlink"));
  exports.Set("unmap", Napi::Function::New(env, Unmap, "unmap"));
  napi_add_env_cleanup_hook(env, RunExitStores, static_cast<napi_env>(env));
  exports.Set("armStore", Napi::Function::New(env, ArmStore, "armStore"));
  exports.Set("disarmStore", Napi::Function::New(env, DisarmStore, "disarmStore"));
}

}  // namespace ipc
