#!/usr/bin/env bash
# The project's test command: installs what a fresh machine lacks (the
# Debian package mosquitto for the integration tests, the pinned
# Zigbee2MQTT from npm for the embedded tests), then runs every test.
# Extra arguments go to `go test` (e.g. test/run.sh -run Daemon -v).
set -euo pipefail
cd "$(dirname "$0")/.."

. test/deps.sh

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*'))
if [ -n "$unformatted" ]; then echo "test/run.sh: not gofmt-ed: $unformatted" >&2; exit 1; fi
go vet ./...
# The daemon runs on small gateways (64- and 32-bit ARM, the odd 32-bit x86
# box) and developers build it on macOS: every one of them must compile, and
# the Linux-only system calls (cmd/translator/conn_linux.go) differ by
# architecture.
for target in linux/arm64 linux/arm linux/386 darwin/arm64; do
  GOOS=${target%/*} GOARCH=${target#*/} GOARM=7 go vet ./... || { echo "test/run.sh: go vet failed for $target" >&2; exit 1; }
done
go test -count=1 "$@" ./...
