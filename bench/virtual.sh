#!/usr/bin/env bash
# The translator's cost next to Zigbee2MQTT's, on the virtual network: the emulated coordinator with
# 200 temperature sensors, the pinned Zigbee2MQTT and the translator in embedded mode, a report rate of
# 100 and 500 per second. Three runs, one Zigbee2MQTT start each:
#   default    the shipped defaults
#   ha         Zigbee2MQTT with its Home Assistant discovery on (the peer integration)
#   verbose    Zigbee2MQTT logging every MQTT publication at info, as before the default quieted it
# Each line of output is one rate of one run (JSON); the markdown table follows.
#
#   bash bench/virtual.sh [-devices 200] [-rates 100,500] [-seconds 20]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. test/deps.sh >/dev/null
out=$(mktemp -d)
go build -o "$out/translator" ./cmd/translator
run() { go run ./bench/virtual -translator "$out/translator" -z2m "$repo/.cache/z2m" -variant "$1" -instance "$2" "${@:3}" | tee -a "$out/results.jsonl"; }
run default '' "$@"
run ha '"zigbee2mqtt":{"homeassistant":{"enabled":true}}' "$@"
run verbose '"zigbee2mqtt":{"advanced":{"log_namespaced_levels":{"z2m:mqtt":"info"}}}' "$@"
echo
echo "| run | reports/s | Zigbee2MQTT µs/msg | translator µs/msg | translator / Zigbee2MQTT | +p50 ms | +p99 ms | translator log lines |"
echo "|---|---|---|---|---|---|---|---|"
python3 -c '
import json,sys
for l in open(sys.argv[1]):
    r=json.loads(l)
    print("| %s | %d | %.0f | %.0f | %.0f %% | %.2f | %.2f | %d |" % (r["variant"], r["rate"], r["z2m_us_per_msg"], r["translator_us_per_msg"], r["ratio_pct"], r["p50_ms"], r["p99_ms"], r["translator_log_lines"]))
' "$out/results.jsonl"
rm -rf "$out"
