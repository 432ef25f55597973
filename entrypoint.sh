#!/bin/sh
# Container entrypoint (runs under tini): prepare the data directory, then
# replace this shell with the translator daemon. Works outside Docker too.
set -eu

data="${IOT2MQTT_PATH:-/app}/data"
if ! mkdir -p "$data" 2>/dev/null || [ ! -w "$data" ]; then
	echo "entrypoint: error: data directory $data is not writable by uid $(id -u)" >&2
	exit 1
fi
# configuration.yaml and the network identity hold the network key.
chmod 0700 "$data" 2>/dev/null || true

exec translator run "$@"
