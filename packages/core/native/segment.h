// Named shared-memory segments: shm_open/ftruncate/mmap exposed as ArrayBuffers.
#pragma once
#include <napi.h>

namespace ipc {
void InitSegment(Napi::Env env, Napi::Object exports);
// True while [data, data + len) is exactly a mapping of ours (the whole of a
// segment's ArrayBuffer) that is not unmapped. Any thread.
bool IsLiveMapping(const void* data, size_t len);
}
