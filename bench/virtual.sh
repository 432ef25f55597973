#!/usr/bin/env bash
# The translator's cost next to Zigbee2MQTT's, on the virtual network: the emulated coordinator with
# 200 temperature sensors, the pinned Zigbee2MQTT and the translator in embedded mode, a report rate of
# 100 and 500 per second. go-ref (../shared/bench/reftranslator, a bare translator on stock autopaho
# that publishes one QoS 1 envelope per report) runs beside it on the same traffic. Four runs, one
# Zigbee2MQTT start each:
#   default    the shipped defaults
#   ha         Zigbee2MQTT with its Home Assistant discovery on (the peer integration)
#   verbose    Zigbee2MQTT logging every MQTT publication at info, as before the default quieted it
#   nodelay    the shipped defaults, Mosquitto with set_tcp_nodelay true (no Nagle batching for go-ref)
# Each line of output is one rate of one run (JSON); the markdown table follows.
#
#   bash bench/virtual.sh [-devices 200] [-rates 100,500] [-seconds 20]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. test/deps.sh >/dev/null
out=$(mktemp -d)
go build -o "$out/translator" ./cmd/translator
peer=()
if [[ -d ../shared/bench/reftranslator ]]; then
  (cd ../shared/bench/reftranslator && go build -o "$out/go-ref" .)
  peer=(-peer "$out/go-ref")
else
  echo "virtual.sh: ../shared/bench/reftranslator not found; measuring without go-ref" >&2
fi
run() { go run ./bench/virtual -translator "$out/translator" "${peer[@]}" -z2m "$repo/.cache/z2m" -variant "$1" -instance "$2" "${@:3}" | tee -a "$out/results.jsonl"; }
run default '' "$@"
run ha '"zigbee2mqtt":{"homeassistant":{"enabled":true}}' "$@"
run verbose '"zigbee2mqtt":{"advanced":{"log_namespaced_levels":{"z2m:mqtt":"info"}}}' "$@"
run nodelay '' -broker-conf 'set_tcp_nodelay true' "$@"
echo
echo "| run | reports/s | Zigbee2MQTT µs/msg | translator µs/msg | translator / Zigbee2MQTT | +p50 ms | +p99 ms | go-ref µs/msg | go-ref / Zigbee2MQTT | go-ref +p50 ms | go-ref +p99 ms | peak RSS MB: Zigbee2MQTT / translator / go-ref | translator log lines |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
python3 -c '
import json,sys
for l in open(sys.argv[1]):
    r=json.loads(l)
    peer = "| %.0f | %.0f %% | %.2f | %.2f " % (r["peer_us_per_msg"], r["peer_ratio_pct"], r["peer_p50_ms"], r["peer_p99_ms"]) if "peer_us_per_msg" in r else "| – | – | – | – "
    rss = "| %.0f / %.0f / %s " % (r["z2m_peak_rss_mb"], r["translator_peak_rss_mb"], "%.0f" % r["peer_peak_rss_mb"] if "peer_peak_rss_mb" in r else "–")
    print("| %s | %d | %.0f | %.0f | %.0f %% | %.2f | %.2f %s%s| %d |" % (r["variant"], r["rate"], r["z2m_us_per_msg"], r["translator_us_per_msg"], r["ratio_pct"], r["p50_ms"], r["p99_ms"], peer, rss, r["translator_log_lines"]))
' "$out/results.jsonl"
rm -rf "$out"
