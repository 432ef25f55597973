#!/usr/bin/env bash
# Side-by-side benchmark of this translator against the peers in ../shared/bench,
# through ../shared/bench/run.sh (private mosquitto per measurement, loadgen,
# passthrough baseline). One run.sh invocation per device count, every target
# in the same invocation, so ratios are against the same run's baseline.
#
#   bench/run.sh                          # 50 and 1000 devices, max,r1000,r5000, QoS 0,1, reps 1
#   BENCH_DEVICE_COUNTS=50 bench/run.sh --reps 2 --max-count 200000
#   BENCH_PEERS="go-ref" bench/run.sh     # only some peers (go-ref python node-red benthos; "" = none)
#
# Targets: translator (state_key_topics default true), translator-nokeys
# (state_key_topics false), and the peers go-ref (shared reftranslator),
# python (paho-mqtt, Debian's python3-paho-mqtt), node-red, benthos.
# Extra arguments go to ../shared/bench/run.sh (see its --help); the markdown
# summary of each device count lands in $BENCH_OUT/summary-<devices>.md.
#
# Prerequisites (installed here when missing): GNU time, mosquitto,
# python3-paho-mqtt (apt); the Benthos peer is built with its ./build.sh and
# Node-RED with `npm ci` (node-red 4.x, runs on Node 20+).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$repo/../shared/bench" && pwd)
out=${BENCH_OUT:-/tmp/z2m-bench-$(date +%Y%m%d-%H%M%S)}
peers=${BENCH_PEERS-go-ref python node-red benthos}
mkdir -p "$out"

need_apt=()
[[ -x /usr/bin/time ]] || need_apt+=(time)
command -v mosquitto >/dev/null || [[ -x /usr/sbin/mosquitto ]] || need_apt+=(mosquitto)
[[ " $peers " == *" python "* ]] && ! /usr/bin/python3 -c 'import paho.mqtt' 2>/dev/null && need_apt+=(python3-paho-mqtt)
if ((${#need_apt[@]})); then apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null; fi

export TRANSLATOR_BIN=$out/translator
echo "building translator -> $TRANSLATOR_BIN" >&2
(cd "$repo" && go build -o "$TRANSLATOR_BIN" ./cmd/translator)

targets=(--translator "$repo/bench/translator.sh" --name translator
         --translator "BENCH_STATE_KEY_TOPICS=false $repo/bench/translator.sh" --name translator-nokeys)
for p in $peers; do
  case $p in
    go-ref)
      (cd "$shared/reftranslator" && go build -o reftranslator .)
      targets+=(--translator "reftranslator/reftranslator" --name go-ref) ;;
    python) targets+=(--translator "/usr/bin/python3 peers/python/bridge.py" --name python) ;;
    node-red)
      [[ -d $shared/peers/nodered/node_modules/node-red ]] || (cd "$shared/peers/nodered" && npm ci --no-audit --no-fund >&2)
      targets+=(--translator "peers/nodered/run.sh" --name node-red) ;;
    benthos)
      [[ -x $shared/peers/benthos/benthos ]] || "$shared/peers/benthos/build.sh" >&2
      targets+=(--translator "peers/benthos/run.sh" --name benthos) ;;
    *) echo "unknown peer $p" >&2; exit 2 ;;
  esac
done

for n in ${BENCH_DEVICE_COUNTS:-50 1000}; do
  echo "=== $n devices ===" >&2
  "$shared/run.sh" --devices "$n" --scenarios max,r1000,r5000 --reps 1 --max-count 100000 \
    "${targets[@]}" --outdir "$out/d$n" --md "$out/summary-$n.md" "$@" | tee "$out/summary-$n.txt"
done
echo "results: $out" >&2
