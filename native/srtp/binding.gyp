{
  "targets": [
    {
      "target_name": "srtp_native",
      "sources": ["srtp_native.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
