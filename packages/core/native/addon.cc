// Module init: registers the functions of each concept; no logic here.
#include <napi.h>

#include "fence.h"
#include "futex.h"
#include "liveness.h"
#include "segment.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  ipc::InitSegment(env, exports);
  ipc::InitFutex(env, exports);
  ipc::InitFence(env, exports);
  ipc::InitLiveness(env, exports);
  return exports;
}

NODE_API_MODULE(ipc_core, Init)
