#!/usr/bin/env bash
# Startup benchmark: a fresh private mosquitto holds a retained
# zigbee2mqtt/bridge/devices with N devices (loadgen seed) and one retained
# state per device; a subscriber on IoT2mqtt/v1/instances/test/devices/+/state
# is connected; then the translator is started (bench/translator.sh) and the
# time from its exec until every device's envelope has arrived is printed.
#
#   bench/startup.sh [DEVICES=1000] [REPS=3]
# Needs mosquitto and python3-paho-mqtt (Debian); STATE_KEY_TOPICS=false to
# measure without per-key topics.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$repo/../shared/bench" && pwd)
n=${1:-1000}; reps=${2:-3}
work=$(mktemp -d /tmp/z2m-startup.XXXXXX)
export TRANSLATOR_BIN=$work/translator
(cd "$repo" && go build -o "$TRANSLATOR_BIN" ./cmd/translator)
[[ -x $shared/loadgen/loadgen ]] || (cd "$shared/loadgen" && go build -o loadgen .)
for ((r = 1; r <= reps; r++)); do
  bd=$work/rep$r; mkdir -p "$bd"
  read -r port bpid < <("$shared/broker.sh" start "$bd/broker")
  "$shared/loadgen/loadgen" seed -broker 127.0.0.1:$port -devices "$n" -map "$bd/map.json" >/dev/null
  /usr/bin/python3 - "$port" "$bd" "$repo/bench/translator.sh" <<'PY' || true
import json, os, subprocess, sys, threading, time
import paho.mqtt.client as mqtt
port, bd, tr = int(sys.argv[1]), sys.argv[2], sys.argv[3]
names = json.load(open(bd + "/map.json"))
pub = mqtt.Client(client_id="startup-seed")
pub.connect("127.0.0.1", port); pub.loop_start()
for i, name in enumerate(names):
    pub.publish("zigbee2mqtt/" + name, json.dumps({"state": "ON", "brightness": i % 255, "linkquality": 90}), qos=1, retain=True).wait_for_publish()
pub.loop_stop(); pub.disconnect()
seen, done = set(), threading.Event()
def on_message(c, u, m):
    seen.add(m.topic)
    if len(seen) >= len(names): done.set()
sub = mqtt.Client(client_id="startup-sub"); sub.on_message = on_message
sub.connect("127.0.0.1", port); sub.subscribe("IoT2mqtt/v1/instances/test/devices/+/state", 1); sub.loop_start()
time.sleep(0.5)
env = dict(os.environ, MQTT_HOST="127.0.0.1", MQTT_PORT=str(port), BENCH_QOS="1", BENCH_RUN_DIR=bd,
           BENCH_STATE_KEY_TOPICS=os.environ.get("STATE_KEY_TOPICS", "true"))
t0 = time.monotonic()
p = subprocess.Popen([tr], env=env, stdout=open(bd + "/translator.log", "w"), stderr=subprocess.STDOUT)
ok = done.wait(30)
el = time.monotonic() - t0
p.terminate(); p.wait(10)
print(json.dumps({"devices": len(names), "envelopes": len(seen), "complete": ok, "seconds_from_exec": round(el, 3)}))
PY
  "$shared/broker.sh" stop "$bd/broker"
done
