{
  "targets": [
    {
      "target_name": "opus_native",
      "sources": ["native/opus_native.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lopus"]
    }
  ]
}
