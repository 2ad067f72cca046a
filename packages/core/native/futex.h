// Futex wait/wake on a 32-bit word of shared memory, sync and async.
#pragma once
#include <napi.h>

namespace ipc {
void InitFutex(Napi::Env env, Napi::Object exports);
}
