#!/bin/bash
# 3 runs per (binding, target rate); 64 MiB kernel buffer; 3 s of traffic each.
for rep in 1 2 3; do
  for r in 50000 100000 200000 300000; do
    ./sweep.sh cap $((64<<20)) $r
    TIMEOUT=0 ./sweep.sh pcap $((64<<20)) $r | sed 's/^pcap/pcap-immediate/'
    TIMEOUT=10 ./sweep.sh pcap $((64<<20)) $r | sed 's/^pcap/pcap-v3/'
    ./sweep.sh tap $((64<<20)) $r
  done
done
