// Process liveness with PID-reuse protection (pid + start time).
#pragma once
#include <napi.h>

namespace ipc {
void InitLiveness(Napi::Env env, Napi::Object exports);
}
