#!/bin/sh
# Re-records the replay cases test/testdata/recorded-* from the pinned
# Zigbee2MQTT on the virtual network (the emulated coordinator), with
# `translator record`, and rewrites their expected.jsonl. Run it after a
# Zigbee2MQTT upgrade and review the diff.
set -eu
cd "$(dirname "$0")/.."
. test/deps.sh
go test -tags integration -count=1 -run 'TestRecordFixtures$' ./cmd/translator -args -rerecord
go test -count=1 ./test
