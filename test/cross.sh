#!/usr/bin/env bash
# Runs the whole test suite as 64-bit and 32-bit ARM (a Raspberry Pi's
# linux/arm64 and linux/arm, GOARM=7) under qemu-user: the test binaries and
# the daemon the tests build and start run emulated, Mosquitto and
# Zigbee2MQTT natively. Installs what it lacks (Debian's qemu-user-static,
# and what test/run.sh installs) and registers qemu's binfmt handlers, so
# it needs root or sudo the first time. Extra arguments go to `go test`.
# Not part of CI (test/run.sh vets these targets there); it takes a few
# minutes per architecture.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/deps.sh

if ! command -v qemu-aarch64-static >/dev/null || ! command -v qemu-arm-static >/dev/null; then
  echo "test/cross.sh: installing qemu-user-static (Debian package)"
  apt_install qemu-user-static
fi
binfmt=/proc/sys/fs/binfmt_misc
[ -e $binfmt/register ] || as_root mount -t binfmt_misc binfmt_misc $binfmt
for handler in aarch64 arm; do
  if [ ! -e $binfmt/qemu-$handler ]; then
    as_root sh -c "cat /usr/lib/binfmt.d/qemu-$handler.conf > $binfmt/register"
  fi
done

for arch in arm64 arm; do
  echo "test/cross.sh: go test for linux/$arch"
  GOOS=linux GOARCH=$arch GOARM=7 go test -tags integration -count=1 "$@" ./...
done
