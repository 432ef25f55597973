// Package translate is the translation engine: a pure function of incoming
// MQTT messages, engine state and time that yields the MQTT messages to
// publish. It speaks Zigbee2MQTT on one side and the IoT2MQTT contract on
// the other, and it never touches a network, a process or a logger.
//
// An Engine is not safe for concurrent use: one goroutine owns it.
package translate

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
)

// Message is one MQTT message in either direction.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	// Latest marks a retained last-value topic (state/{key}): only its
	// newest value matters, so a publisher that is behind may send the
	// newest waiting message for the topic and skip older ones. Every
	// message on such a topic, clears included, carries the mark.
	Latest bool
}

// Diagnostic is something the daemon should log. The engine also publishes
// user-facing problems on the IoT2MQTT error topics itself.
type Diagnostic struct {
	Level    string // debug, info, warn, error
	Msg      string
	Topic    string
	DeviceID string
	Detail   string
}

// Result is what one call into the engine produced.
type Result struct {
	Publish     []Message
	Diagnostics []Diagnostic
	// Requests are actions only the daemon can take, e.g. "reload" (from
	// meta/request/reload).
	Requests []string
}

// Override is a per-device override from the instance JSON, keyed by IEEE.
type Override struct {
	DeviceID     string
	FriendlyName string
	Enabled      bool
	Model        string
}

// Group is a fan-out group from the instance JSON.
type Group struct {
	ID      string
	Devices []string
}

// Config is the engine's fixed configuration.
type Config struct {
	BaseTopic     string // IoT2MQTT base topic, e.g. IoT2mqtt
	InstanceID    string
	ConnectorType string
	Z2MBaseTopic  string // e.g. zigbee2mqtt
	// QoS is used for every publication (the platform uses 1).
	QoS byte
	// RetainState retains state envelopes and state/{key} topics.
	RetainState bool
	// StateKeyTopics publishes a retained state/{key} topic per state key
	// whose value changed.
	StateKeyTopics bool
	// CommandTimeout is the default time to wait for a command's echo.
	CommandTimeout time.Duration
	// SleepyCommandTimeout is used for battery-powered end devices.
	SleepyCommandTimeout time.Duration
	// StaleAfter drops commands whose timestamp is older (default 30 s).
	StaleAfter time.Duration
	// Location is where command timestamps without a zone were written
	// (the platform sends naive local time). Default time.Local, which
	// follows the TZ environment variable.
	Location *time.Location
	// Overrides by lower-case IEEE address.
	Overrides map[string]Override
	// Groups are fan-out groups.
	Groups []Group
	// Version is the translator version for meta/info.
	Version string
	// Mode is "embedded" or "translator-only", for meta/info.
	Mode string
	// Z2MVersion is the pinned Zigbee2MQTT version in embedded mode, shown
	// in meta/info until bridge/info reports the running one.
	Z2MVersion string
	// StartedAt is when the daemon started, for meta/info uptime.
	StartedAt time.Time
	// MaxPayloadBytes rejects larger payloads with INVALID_PAYLOAD before
	// they are parsed (default 16 MiB: a large network's bridge/devices
	// runs to several MiB).
	MaxPayloadBytes int
	// MaxPayloadDepth rejects payloads whose arrays and objects nest
	// deeper, with INVALID_PAYLOAD, before any recursive parser sees them
	// (default 64; Zigbee2MQTT's deepest, bridge/devices, nests about 8).
	MaxPayloadDepth int
}

// Defaults of Config.MaxPayloadBytes and Config.MaxPayloadDepth.
const (
	DefaultMaxPayloadBytes = 16 << 20
	DefaultMaxPayloadDepth = 64
)

// Engine translates between Zigbee2MQTT and IoT2MQTT.
type Engine struct {
	cfg   Config
	rules *mapping.Set
	// parser shares parsed exposes between devices of one model; plans
	// shares compiled plans between devices that match the same blocks and
	// have the same exposes (see planFor).
	parser mapping.DeviceParser
	plans  map[string]*planIndex

	prefix     string // {base}/v1/instances/{instance}/
	z2mPrefix  string // {z2m}/
	globalEvts string

	devices      map[string]*device // by IEEE
	byName       map[string]*device // by Zigbee2MQTT friendly name
	byID         map[string]*device // by IoT2MQTT device id
	order        []string           // IEEE addresses in bridge/devices order
	devicesKnown bool

	groups      map[string]*z2mGroup // by Zigbee2MQTT group id
	groupByName map[string]*z2mGroup

	bridgeOnline bool
	bridgeSeen   bool
	z2mVersion   string

	// tsAt and ts are the last time formatted by timestamp and its text:
	// a state message needs it twice (last_update and the envelope).
	tsAt time.Time
	ts   string

	pendingUnknown map[string]Message // last payload per unknown friendly name
	pendingCmds    []Message          // commands that arrived before bridge/devices
	pendingBytes   int                // payload bytes held in pendingUnknown
	ghosts         map[string]map[string]bool
	seenCmdIDs     *idRing
	bridgeCmds     map[string]bridgeCmd // by transaction id
	awaiting       int                  // commands awaiting confirmation, over all devices (see setPending)
	seq            int
	stats          counters
}

// New returns an engine using rules.
func New(cfg Config, rules *mapping.Set) *Engine {
	if cfg.StaleAfter == 0 {
		cfg.StaleAfter = 30 * time.Second
	}
	if cfg.CommandTimeout == 0 {
		cfg.CommandTimeout = 10 * time.Second
	}
	if cfg.SleepyCommandTimeout == 0 {
		cfg.SleepyCommandTimeout = 60 * time.Second
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.ConnectorType == "" {
		cfg.ConnectorType = "zigbee2mqtt"
	}
	if cfg.MaxPayloadBytes <= 0 {
		cfg.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
	if cfg.MaxPayloadDepth <= 0 {
		cfg.MaxPayloadDepth = DefaultMaxPayloadDepth
	}
	return &Engine{
		cfg:            cfg,
		rules:          rules,
		prefix:         cfg.BaseTopic + "/v1/instances/" + cfg.InstanceID + "/",
		z2mPrefix:      cfg.Z2MBaseTopic + "/",
		globalEvts:     cfg.BaseTopic + "/v1/global/events",
		devices:        map[string]*device{},
		byName:         map[string]*device{},
		byID:           map[string]*device{},
		groups:         map[string]*z2mGroup{},
		groupByName:    map[string]*z2mGroup{},
		pendingUnknown: map[string]Message{},
		ghosts:         map[string]map[string]bool{},
		seenCmdIDs:     newIDRing(1024),
		bridgeCmds:     map[string]bridgeCmd{},
		bridgeOnline:   true,
		stats:          newCounters(),
	}
}

// Prefix is the instance topic prefix, `{base}/v1/instances/{instance}/`.
func (e *Engine) Prefix() string { return e.prefix }

// StatusTopic is where the daemon publishes online/offline (and its LWT).
func (e *Engine) StatusTopic() string { return e.prefix + "status" }

// Subscriptions are the topic filters the daemon subscribes to.
func (e *Engine) Subscriptions() []string {
	return []string{
		e.prefix + "devices/+/cmd",
		e.prefix + "devices/+/get",
		e.prefix + "groups/+/cmd",
		e.prefix + "meta/request/+",
		e.z2mPrefix + "#",
	}
}

// SweepSubscriptions are filters for the daemon's own retained device
// topics; subscribe to them at startup so leftovers of devices that no
// longer exist can be cleared, and unsubscribe after the sweep.
func (e *Engine) SweepSubscriptions() []string {
	return []string{e.prefix + "devices/+/state/#", e.prefix + "devices/+/availability"}
}

// BridgeOnline reports Zigbee2MQTT's last bridge/state.
func (e *Engine) BridgeOnline() bool { return e.bridgeSeen && e.bridgeOnline }

// DevicesKnown reports whether bridge/devices has been received.
func (e *Engine) DevicesKnown() bool { return e.devicesKnown }

// Z2MVersion is the version from bridge/info, or "".
func (e *Engine) Z2MVersion() string { return e.z2mVersion }

// SetRules replaces the rule set and re-plans every device. Each device's
// last known Zigbee2MQTT state is translated again with the new rules: the
// result republishes what changed, and clears the retained state/{key}
// topics of keys the new rules no longer produce.
func (e *Engine) SetRules(rules *mapping.Set, now time.Time) Result {
	var r Result
	e.rules = rules
	e.plans = nil
	for _, ieee := range e.order {
		d := e.devices[ieee]
		if d == nil {
			continue
		}
		d.planIndex = e.planFor(&d.dev)
		e.rebuildState(&r, d, now)
	}
	return r
}

// Devices returns the known devices as the rules see them, in
// bridge/devices order (for checking rules against them).
func (e *Engine) Devices() []mapping.Device {
	out := make([]mapping.Device, 0, len(e.order))
	for _, ieee := range e.order {
		if d := e.devices[ieee]; d != nil {
			out = append(out, d.dev)
		}
	}
	return out
}

// Rules returns the current rule set.
func (e *Engine) Rules() *mapping.Set { return e.rules }

// Handle translates one incoming message into a new Result.
func (e *Engine) Handle(msg Message, now time.Time) Result {
	var r Result
	e.HandleInto(&r, msg, now)
	return r
}

// HandleInto is Handle writing into r. It empties r first and reuses its
// slices, so a caller that handles one message at a time and keeps one
// Result does not grow a new Publish slice for every message (an envelope
// and its state/{key} topics are often eight or more). What r held before
// is gone when HandleInto returns.
func (e *Engine) HandleInto(r *Result, msg Message, now time.Time) {
	r.reset()
	if !validTopicName(msg.Topic) {
		// A broker never delivers these; replayed or hand-made input might,
		// and its levels must not leak into topics we publish.
		r.Diagnostics = append(r.Diagnostics, Diagnostic{Level: "warn", Msg: "ignored a message on an invalid MQTT topic name", Detail: preview([]byte(msg.Topic))})
		return
	}
	if problem := e.payloadProblem(msg.Payload); problem != "" {
		e.publishError(r, e.prefix+"error", "INVALID_PAYLOAD", fmt.Sprintf("%s: payload rejected: %s", preview([]byte(msg.Topic)), problem), "error", now)
		r.Diagnostics = append(r.Diagnostics, Diagnostic{Level: "warn", Msg: "rejected an oversized payload", Topic: msg.Topic, Detail: problem})
		e.stats.out += int64(len(r.Publish))
		return
	}
	switch {
	case strings.HasPrefix(msg.Topic, e.z2mPrefix):
		e.handleUpstream(r, msg, now)
	case strings.HasPrefix(msg.Topic, e.prefix):
		e.handleInstance(r, msg, now)
	}
	e.stats.out += int64(len(r.Publish))
}

// reset empties r for reuse. The old elements are zeroed first, so a kept
// Result holds on to no payload of an earlier message.
func (r *Result) reset() {
	clear(r.Publish)
	clear(r.Diagnostics)
	clear(r.Requests)
	r.Publish, r.Diagnostics, r.Requests = r.Publish[:0], r.Diagnostics[:0], r.Requests[:0]
}

// Startup returns what the daemon publishes once connected: the instance
// info, and the device list when it is known (otherwise it follows as soon
// as Zigbee2MQTT's bridge/devices arrives, so no empty list is ever shown).
func (e *Engine) Startup(now time.Time) Result {
	var r Result
	if e.devicesKnown {
		e.publishDevicesList(&r)
	}
	e.publishInfo(&r, now)
	return r
}

// Republish returns every retained publication again (after a broker
// restart that may have lost them): device list, info, availability and
// state envelopes.
func (e *Engine) Republish(now time.Time) Result {
	r := e.Startup(now)
	for _, ieee := range e.order {
		d := e.devices[ieee]
		if d == nil || !d.enabled {
			continue
		}
		if d.availability != "" {
			e.publishAvailability(&r, d)
		}
		if d.hasState {
			d.lastPublished = nil // force state/{key} topics too
			e.publishState(&r, d, now, nil, true)
		}
	}
	return r
}

func (e *Engine) handleUpstream(r *Result, msg Message, now time.Time) {
	rest := msg.Topic[len(e.z2mPrefix):]
	if strings.HasPrefix(rest, "bridge/") {
		e.stats.in["bridge"]++
		e.handleBridge(r, rest[len("bridge/"):], msg, now)
		return
	}
	if name, ok := strings.CutSuffix(rest, "/availability"); ok {
		e.stats.in["availability"]++
		if d := e.byName[name]; d != nil {
			e.handleAvailability(r, d, msg.Payload, now)
		} else if !e.devicesKnown {
			e.bufferUnknown(rest, msg)
		}
		return
	}
	if strings.HasSuffix(rest, "/set") || strings.HasSuffix(rest, "/get") || strings.Contains(rest, "/set/") || strings.Contains(rest, "/get/") {
		return // commands, ours or another client's
	}
	if d := e.byName[rest]; d != nil {
		e.stats.in["state"]++
		e.handleState(r, d, msg, now)
		return
	}
	if e.groupByName[rest] != nil {
		return // group state: members report their own state
	}
	if !e.devicesKnown {
		e.bufferUnknown(rest, msg)
		return
	}
	r.Diagnostics = append(r.Diagnostics, Diagnostic{Level: "debug", Msg: "message for unknown zigbee2mqtt device", Topic: msg.Topic})
}

// Bounds of the messages held until bridge/devices arrives.
const (
	maxPendingMessages = 10000
	maxPendingBytes    = 64 << 20
)

// bufferUnknown keeps the last message per topic until the device list is
// known, within maxPendingMessages and maxPendingBytes.
func (e *Engine) bufferUnknown(rest string, msg Message) {
	old, replacing := e.pendingUnknown[rest]
	size := len(rest) + len(msg.Payload)
	if replacing {
		size -= len(rest) + len(old.Payload)
	} else if len(e.pendingUnknown) >= maxPendingMessages {
		return
	}
	if e.pendingBytes+size > maxPendingBytes {
		return
	}
	e.pendingUnknown[rest] = msg
	e.pendingBytes += size
}

func (e *Engine) handleInstance(r *Result, msg Message, now time.Time) {
	rest := msg.Topic[len(e.prefix):]
	parts := strings.Split(rest, "/")
	if len(parts) == 3 {
		e.stats.in[parts[0]+"/"+parts[2]]++
	}
	if !e.devicesKnown && len(parts) == 3 && (parts[2] == "cmd" || parts[2] == "get") && parts[1] != "bridge" && !msg.Retain {
		// A persistent session delivers queued commands before the retained
		// device list; hold them until the devices are known.
		if len(e.pendingCmds) < 1000 {
			e.pendingCmds = append(e.pendingCmds, msg)
		}
		return
	}
	switch {
	case len(parts) == 3 && parts[0] == "devices" && parts[2] == "cmd":
		e.handleCommand(r, parts[1], msg, now)
	case len(parts) == 3 && parts[0] == "devices" && parts[2] == "get":
		e.handleGet(r, parts[1], msg, now)
	case len(parts) == 3 && parts[0] == "groups" && parts[2] == "cmd":
		e.handleGroupCommand(r, parts[1], msg, now)
	case len(parts) == 3 && parts[0] == "meta" && parts[1] == "request":
		e.handleMetaRequest(r, parts[2], msg, now)
	case len(parts) >= 3 && parts[0] == "devices" && (parts[2] == "state" || parts[2] == "availability"):
		e.observeOwnRetained(r, parts[1], msg)
	}
}

// validTopicName reports whether s is a valid MQTT topic name: not empty, at
// most 65535 bytes, UTF-8, without wildcards or NUL.
func validTopicName(s string) bool {
	return s != "" && len(s) <= 65535 && utf8.ValidString(s) && !strings.ContainsAny(s, "+#\x00")
}

// payloadProblem says why a payload is too large or too deeply nested to
// parse, or "". The depth scan is iterative, so any input is safe.
func (e *Engine) payloadProblem(p []byte) string {
	if len(p) > e.cfg.MaxPayloadBytes {
		return fmt.Sprintf("%d bytes is more than the limit of %d", len(p), e.cfg.MaxPayloadBytes)
	}
	if jsonDepth(p, e.cfg.MaxPayloadDepth) > e.cfg.MaxPayloadDepth {
		return fmt.Sprintf("JSON nested deeper than the limit of %d levels", e.cfg.MaxPayloadDepth)
	}
	return ""
}

// jsonDepth is how deeply p nests arrays and objects (brackets outside
// strings) when that is more than limit, and at most limit otherwise.
func jsonDepth(p []byte, limit int) int {
	if bytes.Count(p, []byte{'['})+bytes.Count(p, []byte{'{'}) <= limit {
		return 0 // too few brackets to nest that deep; Count is vectorised
	}
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range p {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			if depth > deepest {
				deepest = depth
				if deepest > limit {
					return deepest
				}
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// idRing remembers the last n command ids.
type idRing struct {
	ids  []string
	set  map[string]bool
	next int
}

func newIDRing(n int) *idRing { return &idRing{ids: make([]string, n), set: map[string]bool{}} }

// seen records id and reports whether it was already there.
func (r *idRing) seen(id string) bool {
	if r.set[id] {
		return true
	}
	if old := r.ids[r.next]; old != "" {
		delete(r.set, old)
	}
	r.ids[r.next] = id
	r.set[id] = true
	r.next = (r.next + 1) % len(r.ids)
	return false
}
