#!/usr/bin/env bash
# Start this project's translator (cmd/translator) the way ../shared/bench/run.sh
# expects: run.sh sets MQTT_HOST, MQTT_PORT, BENCH_QOS, BENCH_RUN_DIR (and more);
# this script writes a minimal instance JSON under $BENCH_RUN_DIR, sets the
# daemon's environment and execs the binary (so run.sh measures the daemon).
#
#   TRANSLATOR_BIN          binary to run (default /tmp/z2m-translator-bench/translator);
#                           built from this checkout when missing. bench/run.sh
#                           rebuilds it once per invocation.
#   BENCH_STATE_KEY_TOPICS  true (default, like the daemon) or false: the instance
#                           JSON's state_key_topics (per-key state/{key} topics).
#   TRANSLATOR_CPUPROFILE   passed through: write a CPU profile there on exit.
#   TRANSLATOR_MEMPROFILE   passed through: write an allocation profile there on exit.
#   TRANSLATOR_TRACE        passed through: write a runtime trace there (go tool trace).
#
# Example (from ../shared/bench):
#   ./run.sh --translator "$PWD/../../main/bench/translator.sh" --name translator
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${TRANSLATOR_BIN:-/tmp/z2m-translator-bench/translator}
if [[ ! -x $bin ]]; then
  mkdir -p "$(dirname "$bin")"
  (cd "$repo" && go build -o "$bin" ./cmd/translator)
fi
home=${BENCH_RUN_DIR:-$(mktemp -d /tmp/z2m-translator-bench.XXXXXX)}/iot2mqtt
mkdir -p "$home/instances"
printf '{"instance_id":"test","connection":{},"devices":[],"state_key_topics":%s}\n' \
  "${BENCH_STATE_KEY_TOPICS:-true}" >"$home/instances/test.json"
export INSTANCE_NAME=test IOT2MQTT_PATH=$home MQTT_QOS=${BENCH_QOS:-1}
exec "$bin"
