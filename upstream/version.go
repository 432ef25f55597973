package upstream

// Z2MVersion is the pinned Zigbee2MQTT release. It is the one place the
// version is recorded: install.sh and the Dockerfile test read it from this
// line, so keep the declaration on a line of its own.
const Z2MVersion = "2.14.1"

// NodeMinVersion is the oldest Node.js that runs everything the pinned
// Zigbee2MQTT package ships. Its own package.json declares
// `^22.2.0 || ^24 || <=26.2`; the bundled web UI (zigbee2mqtt-windfront)
// raises the floor to 22.22.2.
const NodeMinVersion = "22.22.2"

// NodeFallbackVersion is the Node.js that install.sh fetches from npm (as the
// node-linux-<arch> package) when the machine's Node.js is older than
// NodeMinVersion.
const NodeFallbackVersion = "22.23.3"
