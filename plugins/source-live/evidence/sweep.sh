#!/bin/bash
# sweep.sh LIB BUFBYTES RATES...
lib=$1; buf=$2; shift 2
for r in "$@"; do node run.js $lib $r $((r*3)) $buf | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for(const l of s.trim().split("\n")){const j=JSON.parse(l); if(!j.sender) continue; const r=j.result; console.log(j.lib, "target", j.target, "sent", j.sender.sent, "at", j.sender.pps, "pps; captured", r.captured, "cpu µs/pkt", r.cpuUsPerPkt, "distinct", r.distinct, "loss", ((1-r.distinct/j.sender.sent)*100).toFixed(2)+"%", "stats", JSON.stringify(r.stats), "lag", JSON.stringify(r.tsLagUs||""), "exit", j.exit)}})'; done
