#!/usr/bin/env bash
# Installs what Tapline needs on a fresh Debian machine with Node 20 (as root), then runs one job:
#   demo  – generate the bundled sample capture and record it
#   test  – the whole test suite
# Idempotent: packages and node_modules already present are not installed again.
set -euo pipefail
cd "$(dirname "$0")/../.."
job="${1:-test}"

# Debian packages: python3/make/g++ (native addons: better-sqlite3 builds from source when no prebuilt binary can
# be fetched), libpcap-dev (live capture addon), tshark/tcpdump (independent decoders the tests compare against),
# sox and espeak-ng (independent codec and speech audio in tests), sip-tester (SIPp: SIPREC sessions and load), baresip (a real SIP client to record),
# python3-pylibsrtp (libsrtp2: an independent SRTP encryptor), ffmpeg (an independent G.722 codec), kamailio (a
# real SIP proxy whose siptrace sends HEPv3), sngrep (decodes HEP: Debian 12's tshark cannot), iproute2 (network
# namespaces, veth, VXLAN and tc for the multi-host peer tests), libbcg729-dev and libopus-dev (the G.729 and Opus
# decoders of packages/codec-g729 and packages/codec-opus build on them at npm install), postgresql and OpenStack
# Swift (a real PostgreSQL server and a real S3-compatible object store, s3api, that the shared-storage tests start
# in temporary folders on loopback; they never use the system's /etc/swift or a system PostgreSQL cluster),
# chromium (the review page's browser tests drive it with playwright-core; its own browser download is blocked).
debs=(python3 make g++ sip-tester libpcap-dev libbcg729-dev libopus-dev tshark tcpdump sox baresip espeak-ng python3-pylibsrtp ffmpeg kamailio sngrep iproute2 openssl postgresql swift swift-proxy swift-account swift-container swift-object chromium)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "tapline: missing Debian packages (${missing[*]}); run as root or install them" >&2
    exit 1
  fi
  echo "tapline: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "tapline: installing npm packages" >&2
  npm ci --no-audit --no-fund
fi

case "$job" in
  demo)
    npm run --silent build
    mkdir -p out/sample
    node dist/core/cli/main.js generate --out out/sample/sample.pcap --calls 4 --duration 10 --lync
    node dist/core/cli/main.js record --pcap out/sample/sample.pcap --out out/sample/recordings
    node dist/core/cli/main.js recordings list --dir out/sample/recordings
    echo "tapline: recordings (audio.wav + metadata.json per call) and summary.json are in $(pwd)/out/sample/recordings"
    ;;
  test)
    npm test
    ;;
  *)
    echo "usage: $0 demo|test" >&2
    exit 2
    ;;
esac
