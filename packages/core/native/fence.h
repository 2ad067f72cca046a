// A remote memory barrier (membarrier) for rings that publish without one.
#pragma once
#include <napi.h>

namespace ipc {
void InitFence(Napi::Env env, Napi::Object exports);
}
