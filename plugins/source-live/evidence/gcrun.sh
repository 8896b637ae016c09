mode=$1; port=$((41000 + RANDOM % 1000))
node --expose-gc cap-gc.js $mode $port > gc-$mode.out 2> gc-$mode.err & pid=$!
sleep 0.5; ./udpblast $port 20000 60000 >/dev/null
wait $pid; echo "rc=$? mode=$mode $(cat gc-$mode.out | tail -1) $(head -c 300 gc-$mode.err)"
