// Named shared-memory segments: shm_open/ftruncate/mmap exposed as ArrayBuffers.
#pragma once
#include <napi.h>

namespace ipc {
void InitSegment(Napi::Env env, Napi::Object exports);
}
