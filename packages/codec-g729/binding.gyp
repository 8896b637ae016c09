{
  "targets": [
    {
      "target_name": "g729_native",
      "sources": ["native/g729_native.c"],
      "libraries": ["-lbcg729"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
