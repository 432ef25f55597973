// Package upstream owns everything about the Zigbee2MQTT side of the
// container: the instance JSON written by the IoT2MQTT platform, the
// configuration.yaml rendered from it, and the supervised Zigbee2MQTT process.
package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Instance is the decoded instance JSON
// (`$IOT2MQTT_PATH/instances/<instance>.json`) with every default applied.
//
// Connection settings are read from `connection.<key>` first and then from
// the top-level copy the platform writes. Empty strings, nulls and
// `__SECRET__…` placeholders count as unset.
type Instance struct {
	// InstanceID is the instance name; it is also the file stem.
	InstanceID string
	// ConnectorType is `connector_type`, default "zigbee2mqtt".
	ConnectorType string
	// FriendlyName is the instance's display name.
	FriendlyName string

	// Notes are remarks on the instance JSON that are not errors, for the
	// log (an adapter without serial_port).
	Notes []string

	// Adapter holds the Zigbee coordinator settings. Nil means translator-only
	// mode: no `serial_port` was given, so a Zigbee2MQTT elsewhere on the broker
	// is translated and no child process is started.
	Adapter *Adapter

	// Z2MBaseTopic is the Zigbee2MQTT base topic (`z2m_base_topic`,
	// default DefaultBaseTopic).
	Z2MBaseTopic string
	// Z2MLogLevel is Zigbee2MQTT's log level (`z2m_log_level`, default "info").
	Z2MLogLevel string
	// FrontendEnabled turns on the Zigbee2MQTT web UI (`frontend_enabled`).
	FrontendEnabled bool
	// FrontendPort is the web UI port (`frontend_port`, default 8099).
	FrontendPort int
	// PermitJoinSeconds opens the network for joining at startup (0–254).
	PermitJoinSeconds int
	// DataDir is Zigbee2MQTT's data directory (`data_dir`, default
	// `$IOT2MQTT_PATH/data`).
	DataDir string
	// ResetNetwork allows the network identity to change (`reset_network`).
	ResetNetwork bool
	// Zigbee2MQTT is the verbatim `zigbee2mqtt` object, merged over the
	// rendered configuration.yaml.
	Zigbee2MQTT map[string]any

	// CommandTimeoutMS is the default command timeout (`command_timeout_ms`,
	// default 10000).
	CommandTimeoutMS int
	// SleepyCommandTimeoutMS is the timeout for battery-powered end devices
	// (`sleepy_command_timeout_ms`, default 60000).
	SleepyCommandTimeoutMS int
	// StateKeyTopics enables the retained `state/{key}` topics
	// (`state_key_topics`, default true).
	StateKeyTopics bool
	// HTTPAddr is the local HTTP listener for /health and /metrics
	// (`http_addr`, default "127.0.0.1:0" meaning disabled when empty).
	HTTPAddr string
	// RecoverDeviceList asks Zigbee2MQTT to restart (`bridge/request/restart`)
	// when its bridge is online but the retained bridge/devices is missing,
	// the only way to make it publish the list again
	// (`recover_device_list`, default true when embedded, false otherwise).
	RecoverDeviceList bool

	// Devices are the per-device overrides from `devices[]`.
	Devices []DeviceOverride
	// Groups are the fan-out groups from `groups[]`.
	Groups []Group
	// Mappings is the raw `mappings` value (a list of rule blocks), applied
	// as the highest mapping layer. Nil when absent.
	Mappings json.RawMessage
}

// Adapter describes the Zigbee coordinator of an embedded Zigbee2MQTT.
type Adapter struct {
	// Port is `serial_port`: a device path or `tcp://host:port`.
	Port string
	// Type is `adapter`: zstack, ember, deconz, zigate or zboss.
	Type string
	// Baudrate is `baudrate`, default 115200.
	Baudrate int
	// RTSCTS is `rtscts`, default false.
	RTSCTS bool
	// Channel is `channel`, 11–26, default 11.
	Channel int
	// ChannelSet reports whether the instance JSON gave `channel` explicitly,
	// so the network identity guard can tell "default 11" from "chose 11".
	ChannelSet bool
	// PanID is `pan_id` as a number, 0 when unset.
	PanID int
	// ExtPanID is `ext_pan_id` as 16 hex characters, empty when unset.
	ExtPanID string
	// NetworkKey is `network_key` as 32 hex characters, empty when unset.
	NetworkKey string
}

// DeviceOverride is one `devices[]` entry, keyed by IEEE address.
type DeviceOverride struct {
	// IEEE is `ieee` (or `ieee_address`), lower case.
	IEEE string
	// DeviceID replaces the IEEE address as the IoT2MQTT device id.
	DeviceID string
	// FriendlyName is a display label.
	FriendlyName string
	// Enabled is false to hide the device; default true.
	Enabled bool
	// Model overrides the model reported in devices_list.
	Model string
}

// Group is one `groups[]` entry: a fan-out group of IoT2MQTT device ids.
type Group struct {
	// GroupID is the id used in `groups/{group_id}/cmd`.
	GroupID string
	// Devices are member device ids.
	Devices []string
}

// Adapters lists the adapter types Zigbee2MQTT accepts.
var Adapters = []string{"zstack", "ember", "deconz", "zigate", "zboss"}

var (
	hexRe       = regexp.MustCompile(`^[0-9a-fA-F]+$`)
	ieeeRe      = regexp.MustCompile(`^0x[0-9a-f]{16}$`)
	topicUnsafe = regexp.MustCompile(`[/+#\x00]`)
)

// LoadInstance reads and decodes the instance JSON at path. home is the
// IoT2MQTT path used to derive the default data directory. Every problem is
// reported, each naming its JSON field.
func LoadInstance(path, instanceName, home string) (*Instance, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read instance JSON: %w", err)
	}
	inst, err := ParseInstance(data, instanceName, home)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return inst, nil
}

// ParseInstance decodes instance JSON bytes. See LoadInstance.
func ParseInstance(data []byte, instanceName, home string) (*Instance, error) {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("instance JSON is not a JSON object: %w", err)
	}
	r := &fieldReader{top: top}
	if raw, ok := top["connection"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &r.conn); err != nil {
			r.errf("connection: must be an object")
		}
	}

	inst := &Instance{InstanceID: instanceName}
	if id := r.str("instance_id", ""); id != "" && id != instanceName {
		r.errf("instance_id: %q does not match INSTANCE_NAME %q", id, instanceName)
	}
	inst.ConnectorType = r.str("connector_type", "zigbee2mqtt")
	inst.FriendlyName = r.str("friendly_name", instanceName)

	inst.Z2MBaseTopic = r.str("z2m_base_topic", "")
	if inst.Z2MBaseTopic != "" && topicUnsafe.MatchString(inst.Z2MBaseTopic) && !validBaseTopic(inst.Z2MBaseTopic) {
		r.errf("z2m_base_topic: %q must not contain '+', '#', NUL or empty levels", inst.Z2MBaseTopic)
	}
	inst.Z2MLogLevel = r.oneOf("z2m_log_level", "info", []string{"error", "warning", "info", "debug"})
	inst.FrontendEnabled = r.boolean("frontend_enabled", false)
	inst.FrontendPort = r.intRange("frontend_port", 8099, 1, 65535)
	inst.PermitJoinSeconds = r.intRange("permit_join_seconds", 0, 0, 254)
	inst.DataDir = r.str("data_dir", strings.TrimSuffix(home, "/")+"/data")
	inst.ResetNetwork = r.boolean("reset_network", false)
	inst.CommandTimeoutMS = r.intRange("command_timeout_ms", 10000, 100, 3600000)
	inst.SleepyCommandTimeoutMS = r.intRange("sleepy_command_timeout_ms", 60000, 100, 3600000)
	inst.StateKeyTopics = r.boolean("state_key_topics", true)
	inst.HTTPAddr = r.str("http_addr", "")
	if raw, ok := r.raw("zigbee2mqtt"); ok {
		if err := json.Unmarshal(raw, &inst.Zigbee2MQTT); err != nil {
			r.errf("zigbee2mqtt: must be an object")
		}
	}
	if raw, ok := r.raw("mappings"); ok {
		inst.Mappings = raw
	}

	if port := r.str("serial_port", ""); port != "" {
		a := &Adapter{Port: port}
		a.Type = r.oneOf("adapter", "zstack", Adapters)
		a.Baudrate = r.intRange("baudrate", 115200, 1200, 4000000)
		a.RTSCTS = r.boolean("rtscts", false)
		a.Channel = r.intRange("channel", 11, 11, 26)
		a.ChannelSet = r.has("channel")
		a.PanID = r.panID("pan_id")
		a.ExtPanID = r.hexString("ext_pan_id", 16)
		a.NetworkKey = r.hexString("network_key", 32)
		inst.Adapter = a
	} else if r.has("adapter") {
		inst.Notes = append(inst.Notes, "adapter is set but serial_port is not: translator-only mode, no Zigbee2MQTT is started (set serial_port, a device path or tcp://host:port, to run one)")
	}

	if inst.Z2MBaseTopic == "" {
		inst.Z2MBaseTopic = DefaultBaseTopic(instanceName, inst.Embedded())
	}
	inst.RecoverDeviceList = r.boolean("recover_device_list", inst.Adapter != nil)
	inst.Devices = r.devices()
	inst.Groups = r.groups()

	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}
	return inst, nil
}

// DefaultBaseTopic is the Zigbee2MQTT base topic used when the instance JSON
// names none. A Zigbee2MQTT elsewhere on the broker is expected at its own
// default, "zigbee2mqtt". An embedded one gets a topic named after the
// instance, so that many instances on one broker never read each other's
// devices: the instance id itself when it starts with "zigbee2mqtt", as the
// platform's generated ids do ("zigbee2mqtt_k3j9x2"), else
// "zigbee2mqtt_<instance id>".
func DefaultBaseTopic(instanceID string, embedded bool) string {
	switch {
	case !embedded:
		return "zigbee2mqtt"
	case strings.HasPrefix(instanceID, "zigbee2mqtt"):
		return instanceID
	default:
		return "zigbee2mqtt_" + instanceID
	}
}

// Embedded reports whether this instance runs its own Zigbee2MQTT.
func (i *Instance) Embedded() bool { return i.Adapter != nil }

func validBaseTopic(t string) bool {
	if t == "" || strings.ContainsAny(t, "+#\x00") {
		return false
	}
	for _, level := range strings.Split(t, "/") {
		if level == "" {
			return false
		}
	}
	return true
}

// fieldReader reads instance fields from `connection` first, then top level,
// and collects every error.
type fieldReader struct {
	top  map[string]json.RawMessage
	conn map[string]json.RawMessage
	errs []error
}

func (r *fieldReader) errf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf(format, args...))
}

func isNull(raw json.RawMessage) bool {
	return len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// raw returns the value of key, treating null, "" and secret placeholders as unset.
func (r *fieldReader) raw(key string) (json.RawMessage, bool) {
	for _, m := range []map[string]json.RawMessage{r.conn, r.top} {
		v, ok := m[key]
		if !ok || isNull(v) {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) == nil && (strings.TrimSpace(s) == "" || strings.HasPrefix(s, "__SECRET__")) {
			continue
		}
		return v, true
	}
	return nil, false
}

func (r *fieldReader) has(key string) bool { _, ok := r.raw(key); return ok }

func (r *fieldReader) str(key, def string) string {
	v, ok := r.raw(key)
	if !ok {
		return def
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		var n json.Number
		if json.Unmarshal(v, &n) == nil {
			return n.String()
		}
		r.errf("%s: must be a string, got %s", key, v)
		return def
	}
	return strings.TrimSpace(s)
}

func (r *fieldReader) oneOf(key, def string, allowed []string) string {
	s := strings.ToLower(r.str(key, def))
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	r.errf("%s: %q is not one of %s", key, s, strings.Join(allowed, ", "))
	return def
}

func (r *fieldReader) boolean(key string, def bool) bool {
	v, ok := r.raw(key)
	if !ok {
		return def
	}
	var b bool
	if json.Unmarshal(v, &b) == nil {
		return b
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		if b, err := strconv.ParseBool(strings.TrimSpace(s)); err == nil {
			return b
		}
	}
	r.errf("%s: must be true or false, got %s", key, v)
	return def
}

func (r *fieldReader) intRange(key string, def, min, max int) int {
	v, ok := r.raw(key)
	if !ok {
		return def
	}
	var s string
	text := string(v)
	if json.Unmarshal(v, &s) == nil {
		text = strings.TrimSpace(s)
	}
	n, err := strconv.Atoi(text)
	if err != nil {
		r.errf("%s: must be an integer, got %s", key, v)
		return def
	}
	if n < min || n > max {
		r.errf("%s: %d is out of range %d–%d", key, n, min, max)
		return def
	}
	return n
}

// panID accepts a JSON number (decimal) or a string of hex digits with an
// optional 0x prefix, as the setup form's pattern allows.
func (r *fieldReader) panID(key string) int {
	v, ok := r.raw(key)
	if !ok {
		return 0
	}
	var n int64
	var err error
	var s string
	if json.Unmarshal(v, &s) == nil {
		n, err = strconv.ParseInt(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "0x"), 16, 32)
	} else {
		n, err = strconv.ParseInt(string(v), 10, 32)
	}
	if err != nil || n < 1 || n >= 0xFFFF {
		r.errf("%s: %s is not a PAN ID (0x0001–0xFFFE)", key, v)
		return 0
	}
	return int(n)
}

func (r *fieldReader) hexString(key string, length int) string {
	v, ok := r.raw(key)
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		r.errf("%s: must be a string of %d hex characters", key, length)
		return ""
	}
	s = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "0x"))
	if len(s) != length || !hexRe.MatchString(s) {
		r.errf("%s: must be %d hex characters", key, length)
		return ""
	}
	return s
}

func (r *fieldReader) devices() []DeviceOverride {
	raw, ok := r.top["devices"]
	if !ok || isNull(raw) {
		return nil
	}
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		r.errf("devices: must be an array of objects")
		return nil
	}
	var out []DeviceOverride
	seen := map[string]bool{}
	for i, e := range entries {
		sub := &fieldReader{top: e}
		ieee := strings.ToLower(sub.str("ieee", sub.str("ieee_address", "")))
		d := DeviceOverride{
			IEEE:         ieee,
			DeviceID:     sub.str("device_id", ""),
			FriendlyName: sub.str("friendly_name", sub.str("name", "")),
			Enabled:      sub.boolean("enabled", true),
			Model:        sub.str("model", ""),
		}
		for _, err := range sub.errs {
			r.errf("devices[%d].%v", i, err)
		}
		if d.IEEE == "" && ieeeRe.MatchString(strings.ToLower(d.DeviceID)) {
			d.IEEE = strings.ToLower(d.DeviceID)
		}
		if d.IEEE == "" {
			r.errf("devices[%d].ieee: required (the Zigbee IEEE address, e.g. 0x00158d0001a2b3c4)", i)
			continue
		}
		if !ieeeRe.MatchString(d.IEEE) {
			r.errf("devices[%d].ieee: %q is not an IEEE address (0x followed by 16 hex digits)", i, d.IEEE)
			continue
		}
		if d.DeviceID == "" {
			d.DeviceID = d.IEEE
		}
		if !ValidTopicLevel(d.DeviceID) {
			r.errf("devices[%d].device_id: %q must be one topic level (no '/', '+', '#')", i, d.DeviceID)
			continue
		}
		if seen[d.IEEE] {
			r.errf("devices[%d].ieee: %s is listed twice", i, d.IEEE)
			continue
		}
		seen[d.IEEE] = true
		out = append(out, d)
	}
	return out
}

func (r *fieldReader) groups() []Group {
	raw, ok := r.top["groups"]
	if !ok || isNull(raw) {
		return nil
	}
	var entries []struct {
		GroupID json.RawMessage `json:"group_id"`
		Devices []string        `json:"devices"`
	}
	if err := json.Unmarshal(raw, &entries); err != nil {
		r.errf("groups: must be an array of {group_id, devices}")
		return nil
	}
	var out []Group
	for i, e := range entries {
		id := strings.Trim(string(e.GroupID), `"`)
		if id == "" || !ValidTopicLevel(id) {
			r.errf("groups[%d].group_id: must be a non-empty single topic level", i)
			continue
		}
		bad := false
		for j, d := range e.Devices {
			if !ValidTopicLevel(d) {
				r.errf("groups[%d].devices[%d]: %q must be a device_id, one topic level (no '/', '+', '#')", i, j, d)
				bad = true
			}
		}
		if bad {
			continue
		}
		out = append(out, Group{GroupID: id, Devices: e.Devices})
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].GroupID < out[b].GroupID })
	return out
}

// ValidTopicLevel reports whether s can be used as one MQTT topic level.
func ValidTopicLevel(s string) bool {
	return s != "" && !topicUnsafe.MatchString(s)
}
