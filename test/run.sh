#!/usr/bin/env bash
# The project's test command: installs what a fresh machine lacks (the
# Debian package mosquitto for the integration tests, the pinned
# Zigbee2MQTT from npm for the embedded tests), then runs every test:
# the unit and golden tests, and the tests behind the `integration` build
# tag that drive a real Mosquitto and the real Zigbee2MQTT.
# Extra arguments go to `go test` (e.g. test/run.sh -run Daemon -v).
set -euo pipefail
cd "$(dirname "$0")/.."

. test/deps.sh

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*'))
if [ -n "$unformatted" ]; then echo "test/run.sh: not gofmt-ed: $unformatted" >&2; exit 1; fi
go vet ./...
go vet -tags integration ./...
# The daemon runs on small ARM gateways: it must build for them.
for target in linux/arm64 linux/arm; do
  GOOS=${target%/*} GOARCH=${target#*/} GOARM=7 go build -o /dev/null ./cmd/translator || { echo "test/run.sh: build failed for $target" >&2; exit 1; }
done
# The transport drives paho's session from several goroutines: check it
# under the race detector.
go test -race -tags integration -count=1 ./transport/
# The catalog conformance counts, for the log.
go test -count=1 -run 'TestCatalog$' -v ./test/conformance/ | grep -E 'definitions,|^(ok|FAIL|---)'
go test -tags integration -count=1 "$@" ./...
