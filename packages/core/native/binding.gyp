{
  "targets": [
    {
      "target_name": "ipc_core",
      "sources": ["addon.cc", "segment.cc", "futex.cc", "uring-waits.cc", "fence.cc", "liveness.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      # NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: in a worker thread being terminated every Node-API
      # call that makes a value fails, and node-addon-api's throw of that failure cannot run: without
      # it, that is a fatal error of the whole process (test/worker-teardown.test.ts).
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-O2", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions"],
      "conditions": [
        [
          "OS=='linux'",
          {
            # Loaded for good (-z nodelete, GNU ld): Node unloads an addon with the last thread that
            # loaded it, while the native threads of that thread's async waits may still be running
            # its code (test/worker-teardown.test.ts).
            "ldflags": ["-Wl,-z,nodelete"]
          }
        ]
      ],
      "xcode_settings": { "GCC_SYMBOLS_PRIVATE_EXTERN": "YES", "CLANG_CXX_LANGUAGE_STANDARD": "c++17" }
    }
  ]
}
