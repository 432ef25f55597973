#!/bin/sh
# Soak test: builds the translator and bench/soak, then runs the soak against a private mosquitto
# (Debian `mosquitto` must be installed) and a simulated Zigbee2MQTT.
#
#   bench/soak/run.sh [-duration 30m] [-rate 500] [-devices 1000] [-fault-mean 8s] [-seed N] [-dir DIR]
#
# Faults (renames, leaves/joins, availability flaps, broker kill+restart) are injected at random from 30 s
# after the start until 30 s before the end; the event log and the translator log are written to the work
# directory (printed at the start). After each broker restart, publishing pauses until every device has its
# retained state envelope again (the recovery time is reported). Exits 1 on state mismatches, ghost retained
# state, a device still without retained state 30 s after a broker restart, more than 2 extra goroutines or >50% RSS
# growth between the 1-minute mark and the end; 2 on a setup error.
set -eu
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d /tmp/soak-bin.XXXXXX)
go build -o "$tmp/translator" ./cmd/translator
go build -o "$tmp/soak" ./bench/soak
exec "$tmp/soak" -translator "$tmp/translator" "$@"
