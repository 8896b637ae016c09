{
  "targets": [
    {
      "target_name": "pcap_native",
      "sources": ["pcap_native.c"],
      "libraries": ["-lpcap"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
