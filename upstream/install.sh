#!/bin/sh
# install.sh — install the pinned Zigbee2MQTT from npm into <repo>/.cache/z2m.
#
# The version is read from upstream/version.go (const Z2MVersion), the one
# place it is recorded. The script is idempotent: a second run with the same
# version does nothing but print where things are.
#
# Needs: sh, sed, npm and Node.js. When the machine's Node.js is older than
# NodeMinVersion (also in version.go), a suitable Node.js is installed from
# npm (the node-linux-<arch> package) into <cache>/node and used for both npm
# and Zigbee2MQTT.
#
# Environment:
#   Z2M_CACHE_DIR  cache directory (default: <repo>/.cache)
#
# Output: the last lines name the install directory and the node binary; the
# node binary's path is also written to <cache>/z2m/.node for the daemon.
# `install.sh --version` prints the pinned versions and exits.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
version_file="$here/version.go"
cache=${Z2M_CACHE_DIR:-$root/.cache}

log() { printf 'install.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# read_const NAME prints the string value of `const NAME = "..."` in version.go.
read_const() {
	v=$(sed -n "s/^const $1 = \"\\([^\"]*\\)\".*/\\1/p" "$version_file")
	[ -n "$v" ] || die "cannot read $1 from $version_file"
	printf '%s\n' "$v"
}

# vge A B: dotted version A >= B (numeric, three fields).
vge() {
	a=$(printf '%s' "$1" | sed 's/^v//')
	b=$(printf '%s' "$2" | sed 's/^v//')
	old_ifs=$IFS
	IFS=.
	# shellcheck disable=SC2086
	set -- $a
	a1=${1:-0} a2=${2:-0} a3=${3:-0}
	# shellcheck disable=SC2086
	set -- $b
	b1=${1:-0} b2=${2:-0} b3=${3:-0}
	IFS=$old_ifs
	[ "$a1" -ne "$b1" ] && { [ "$a1" -gt "$b1" ]; return; }
	[ "$a2" -ne "$b2" ] && { [ "$a2" -gt "$b2" ]; return; }
	[ "$a3" -ge "$b3" ]
}

z2m_version=$(read_const Z2MVersion)
node_min=$(read_const NodeMinVersion)
node_fallback=$(read_const NodeFallbackVersion)

case ${1:-} in
--version)
	# Print the pinned versions and do nothing else.
	echo "zigbee2mqtt $z2m_version node>=$node_min node-fallback $node_fallback"
	exit 0
	;;
-h | --help)
	sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
"") ;;
*) die "unknown argument $1 (try --help)" ;;
esac

command -v npm >/dev/null 2>&1 || die "npm not found in PATH (install Node.js and npm first)"
command -v node >/dev/null 2>&1 || die "node not found in PATH (install Node.js first)"

# 1. A Node.js new enough for the pinned Zigbee2MQTT.
node_bin=$(command -v node)
node_have=$(node -p 'process.versions.node')
if vge "$node_have" "$node_min"; then
	log "using system Node.js $node_have ($node_bin)"
else
	case $(uname -m) in
	x86_64 | amd64) arch=x64 ;;
	aarch64 | arm64) arch=arm64 ;;
	*) die "Node.js $node_have is older than $node_min and no Node.js package is known for $(uname -m)" ;;
	esac
	node_dir=$cache/node
	node_bin=$node_dir/node_modules/node-linux-$arch/bin/node
	if [ -x "$node_bin" ] && [ "$("$node_bin" -p 'process.versions.node')" = "$node_fallback" ]; then
		log "using cached Node.js $node_fallback ($node_bin)"
	else
		log "Node.js $node_have is older than $node_min; installing Node.js $node_fallback from npm into $node_dir"
		mkdir -p "$node_dir"
		npm install --prefix "$node_dir" --no-audit --no-fund --ignore-scripts --loglevel=error \
			"node-linux-$arch@$node_fallback" >&2
		chmod +x "$node_bin"
		[ "$("$node_bin" -p 'process.versions.node')" = "$node_fallback" ] ||
			die "installed Node.js at $node_bin does not run"
	fi
	# npm itself and every install script now run on this Node.js.
	PATH=$(dirname "$node_bin"):$PATH
	export PATH
fi

# 2. Zigbee2MQTT itself.
z2m_dir=$cache/z2m
stamp=$z2m_dir/.installed
entry=$z2m_dir/node_modules/zigbee2mqtt/index.js
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$z2m_version" ] && [ -f "$entry" ]; then
	log "zigbee2mqtt $z2m_version already installed"
else
	log "installing zigbee2mqtt@$z2m_version from npm into $z2m_dir"
	mkdir -p "$z2m_dir"
	rm -f "$stamp"
	# Install scripts are skipped whatever the npm version (npm 11 skips
	# them unless approved anyway): @serialport/bindings-cpp loads its
	# shipped prebuilds without them, and unix-dgram (syslog output only)
	# would need a C++ toolchain. tcp:// coordinators need neither.
	npm install --prefix "$z2m_dir" --no-audit --no-fund --omit=dev --ignore-scripts \
		--loglevel=error "zigbee2mqtt@$z2m_version" >&2
	got=$(node -p "require(process.argv[1]).version" "$z2m_dir/node_modules/zigbee2mqtt/package.json")
	[ "$got" = "$z2m_version" ] || die "npm installed zigbee2mqtt $got, want $z2m_version"
	printf '%s\n' "$z2m_version" >"$stamp"
fi
printf '%s\n' "$node_bin" >"$z2m_dir/.node"

# 3. Keep the cache out of git when it lives in the repository.
if [ -z "${Z2M_CACHE_DIR:-}" ]; then
	gitignore=$root/.gitignore
	if [ ! -f "$gitignore" ]; then
		printf '.cache/\n' >"$gitignore"
	elif ! grep -qx '\.cache/\{0,1\}' "$gitignore"; then
		# Make sure the appended line starts on a line of its own.
		[ -z "$(tail -c 1 "$gitignore")" ] || printf '\n' >>"$gitignore"
		printf '.cache/\n' >>"$gitignore"
	fi
fi

echo "zigbee2mqtt $z2m_version installed in $z2m_dir"
echo "node: $node_bin ($("$node_bin" -p 'process.versions.node'))"
echo "schema: $z2m_dir/node_modules/zigbee2mqtt/dist/util/settings.schema.json"
echo "start: ZIGBEE2MQTT_DATA=<data dir> $node_bin $entry"
