# Sourced by test/run.sh and test/cross.sh: installs what a fresh machine
# lacks for the tests (the Debian package mosquitto for the integration
# tests, the pinned Zigbee2MQTT from npm for the embedded tests).

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else "$@"; fi; }

# apt_install PACKAGE... installs Debian packages quietly.
apt_install() {
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then
  echo "test: installing mosquitto (Debian package)"
  apt_install mosquitto mosquitto-clients
fi

bash upstream/install.sh
