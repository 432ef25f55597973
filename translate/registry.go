package translate

import (
	"crypto/sha256"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
	"github.com/tidwall/gjson"
)

// device is one Zigbee2MQTT device as the engine knows it.
type device struct {
	entrySum    [sha256.Size]byte // of its bridge/devices entry, to skip unchanged ones
	dev         mapping.Device
	id          string
	enabled     bool
	supported   bool
	interviewed bool
	model       string // for devices_list (override or definition)
	*planIndex         // shared with devices of the same model and rules

	state         stateObj // merged IoT2MQTT state
	upstream      stateObj // merged Zigbee2MQTT state, to translate again when the plan changes
	hasState      bool
	lastUpdate    string               // timestamp of the last upstream state
	lastPublished map[string]*keyTopic // state/{key} topics and the values last published
	availability  string               // "online", "offline" or "" when unknown
	recent        []recentInput        // newest first, for explain
	seenKeys      map[string]bool      // payload keys ever seen, for coverage
	retained      map[string]bool      // retained topics we published for it
	pending       []*pendingCmd

	topicBase  string // {prefix}devices/{id}/
	stateTopic string // topicBase + "state", built once
}

func (d *device) sleepy() bool {
	return strings.EqualFold(d.dev.Type, "EndDevice") && strings.Contains(strings.ToLower(d.dev.PowerSource), "battery")
}

// planIndex is a compiled plan with the engine's lookup tables. It is
// read-only and shared by every device it was built for.
type planIndex struct {
	plan      *mapping.Plan
	byKey     map[string][]*mapping.Bound // readable rules by simple source key
	nested    []*mapping.Bound            // readable rules with a nested source path
	onMissing []*mapping.Bound            // readable rules whose missing policy is not skip
}

func newPlanIndex(p *mapping.Plan) *planIndex {
	pi := &planIndex{plan: p, byKey: map[string][]*mapping.Bound{}}
	for _, b := range p.Rules {
		if !b.Rule.CanRead() {
			continue
		}
		if isSimpleKey(b.From) {
			pi.byKey[b.From] = append(pi.byKey[b.From], b)
		} else {
			pi.nested = append(pi.nested, b)
		}
		if b.Rule.Missing != "skip" {
			pi.onMissing = append(pi.onMissing, b)
		}
	}
	return pi
}

// planFor returns the plan of dev, compiling it only for the first device
// that matches its set of blocks with its exposes: a plan depends on
// nothing else, and a thousand bulbs of one model need only one.
func (e *Engine) planFor(dev *mapping.Device) *planIndex {
	key := e.rules.MatchKey(dev) + "\x00" + dev.ExposesKey
	if pi := e.plans[key]; pi != nil {
		return pi
	}
	pi := newPlanIndex(e.rules.Plan(dev))
	if e.plans == nil {
		e.plans = map[string]*planIndex{}
	}
	e.plans[key] = pi
	return pi
}

// pruneShared forgets parsed exposes and plans that no device uses any more.
func (e *Engine) pruneShared() {
	exposes := map[string]bool{}
	plans := map[*planIndex]bool{}
	for _, d := range e.devices {
		exposes[d.dev.ExposesKey] = true
		plans[d.planIndex] = true
	}
	e.parser.Retain(exposes)
	for k, pi := range e.plans {
		if !plans[pi] {
			delete(e.plans, k)
		}
	}
}

// isSimpleKey reports whether a gjson path names one top-level key.
func isSimpleKey(p string) bool { return !strings.ContainsAny(p, ".*?#|@\\") }

// online is the device's effective availability for state.online.
func (e *Engine) online(d *device) bool {
	if !e.bridgeOnline {
		return false
	}
	return d.availability != "offline"
}

// z2mGroup is a Zigbee2MQTT group from bridge/groups.
type z2mGroup struct {
	id      string
	name    string
	members []string // IEEE addresses
}

func (e *Engine) handleBridge(r *Result, sub string, msg Message, now time.Time) {
	switch {
	case sub == "state":
		e.handleBridgeState(r, msg.Payload, now)
	case sub == "info":
		v := gjson.GetBytes(msg.Payload, "version").String()
		if v != e.z2mVersion {
			e.z2mVersion = v
			e.publishInfo(r, now)
		}
	case sub == "devices":
		e.handleDevices(r, msg, now)
	case sub == "groups":
		e.handleGroups(r, msg)
	case sub == "event":
		e.handleBridgeEvent(r, msg, now)
	case sub == "logging":
		e.handleLogging(r, msg, now)
	case strings.HasPrefix(sub, "response/"):
		e.handleBridgeResponse(r, sub[len("response/"):], msg, now)
	}
}

func (e *Engine) handleBridgeState(r *Result, payload []byte, now time.Time) {
	s := string(payload)
	if gjson.ValidBytes(payload) && gjson.GetBytes(payload, "state").Exists() {
		s = gjson.GetBytes(payload, "state").String()
	}
	online := s == "online"
	e.bridgeSeen = true
	if online == e.bridgeOnline {
		return
	}
	e.bridgeOnline = online
	level := "info"
	if !online {
		level = "warn"
	}
	r.Diagnostics = append(r.Diagnostics, Diagnostic{Level: level, Msg: "zigbee2mqtt bridge is " + s})
	for _, ieee := range e.order {
		d := e.devices[ieee]
		if d == nil || !d.enabled {
			continue
		}
		e.publishAvailability(r, d)
		if d.hasState {
			e.publishState(r, d, now, nil, false)
		}
	}
	e.publishDevicesList(r)
}

func (e *Engine) deviceFromJSON(v gjson.Result) *device {
	d := &device{
		dev:         e.parser.Parse(v),
		enabled:     !v.Get("disabled").Bool(),
		supported:   v.Get("supported").Bool(),
		interviewed: v.Get("interview_completed").Bool() || v.Get("interview_state").String() == "SUCCESSFUL",
	}
	d.model = d.dev.Model
	if d.model == "" {
		d.model = "unknown"
	}
	return d
}

func (e *Engine) handleDevices(r *Result, msg Message, now time.Time) {
	list := gjson.ParseBytes(msg.Payload)
	if !gjson.ValidBytes(msg.Payload) || !list.IsArray() {
		e.publishError(r, e.prefix+"error", "INVALID_PAYLOAD", fmt.Sprintf("%s: expected a JSON array of devices", msg.Topic), "error", now)
		return
	}
	seen := map[string]bool{}
	var order []string
	changed := !e.devicesKnown
	list.ForEach(func(_, v gjson.Result) bool {
		if v.Get("type").String() == "Coordinator" {
			return true
		}
		// Unchanged entries (the usual case when one device joins, leaves or
		// is renamed) keep their device and plan: re-planning a thousand
		// devices for every bridge/devices publish is pure garbage.
		sum := sha256.Sum256([]byte(v.Raw))
		if old := e.devices[strings.ToLower(v.Get("ieee_address").String())]; old != nil && old.entrySum == sum && !seen[old.dev.IEEE] {
			seen[old.dev.IEEE] = true
			order = append(order, old.dev.IEEE)
			return true
		}
		nd := e.deviceFromJSON(v) // private copies of every string it keeps
		nd.entrySum = sum
		if nd.dev.IEEE == "" || seen[nd.dev.IEEE] {
			return true
		}
		if !validLevel(nd.dev.IEEE) {
			// The IEEE address is the device id of last resort: it must be
			// one topic level.
			r.Diagnostics = append(r.Diagnostics, Diagnostic{Level: "warn", Msg: "ignored a device whose ieee_address is not one topic level", Topic: msg.Topic, Detail: preview([]byte(nd.dev.IEEE))})
			return true
		}
		seen[nd.dev.IEEE] = true
		order = append(order, nd.dev.IEEE)
		old := e.devices[nd.dev.IEEE]
		if old == nil {
			e.addDevice(r, nd)
			changed = true
			return true
		}
		if e.updateDevice(r, old, nd, now) {
			changed = true
		}
		return true
	})
	for _, ieee := range e.order {
		if !seen[ieee] {
			if d := e.devices[ieee]; d != nil {
				e.removeDevice(r, d, now)
				changed = true
			}
		}
	}
	e.order = order
	if changed {
		e.pruneShared()
	}
	first := !e.devicesKnown
	e.devicesKnown = true
	if changed {
		e.publishDevicesList(r)
		e.publishInfo(r, now)
	}
	if first {
		e.replayPending(r, now)
		e.sweepGhosts(r)
		cmds := e.pendingCmds
		e.pendingCmds = nil
		for _, m := range cmds {
			e.handleInstance(r, m, now)
		}
	}
}

// resolveID decides a device's IoT2MQTT id: instance override, then the
// rule template, then the IEEE address.
func (e *Engine) resolveID(r *Result, d *device) string {
	if o, ok := e.cfg.Overrides[d.dev.IEEE]; ok && o.DeviceID != "" {
		if validLevel(o.DeviceID) {
			return o.DeviceID
		}
		r.Diagnostics = append(r.Diagnostics, Diagnostic{Level: "warn", Msg: "device_id override is not one topic level; ignoring it", DeviceID: d.dev.IEEE, Detail: o.DeviceID})
	}
	id := d.plan.DeviceID(&d.dev)
	if !validLevel(id) {
		r.Diagnostics = append(r.Diagnostics, Diagnostic{Level: "warn", Msg: "device_id template gives an invalid topic level; using the IEEE address", DeviceID: id})
		return d.dev.IEEE
	}
	return id
}

// maxLevel bounds a device id or state key, so every topic built from one
// stays far below MQTT's 65535-byte limit.
const maxLevel = 1024

// validLevel reports whether s can be one level of a topic name: not empty,
// UTF-8, no '/', '+', '#' or NUL, and at most maxLevel bytes.
func validLevel(s string) bool {
	return s != "" && len(s) <= maxLevel && utf8.ValidString(s) && !strings.ContainsAny(s, "/+#\x00")
}

func (e *Engine) addDevice(r *Result, d *device) {
	d.planIndex = e.planFor(&d.dev)
	if o, ok := e.cfg.Overrides[d.dev.IEEE]; ok {
		d.enabled = d.enabled && o.Enabled
		if o.Model != "" {
			d.model = o.Model
		}
	}
	d.id = e.resolveID(r, d)
	if other := e.byID[d.id]; other != nil && other != d {
		r.Diagnostics = append(r.Diagnostics, Diagnostic{Level: "error", Msg: "two devices resolve to one device_id; using the IEEE address for the second", DeviceID: d.id, Detail: d.dev.IEEE})
		d.id = d.dev.IEEE
	}
	d.topicBase = e.prefix + "devices/" + d.id + "/"
	d.stateTopic = d.topicBase + "state"
	d.retained = map[string]bool{}
	e.devices[d.dev.IEEE] = d
	e.byName[d.dev.FriendlyName] = d
	e.byID[d.id] = d
	delete(e.ghosts, d.id)
}

// updateDevice applies a new bridge/devices entry to a known device and
// reports whether anything listed in devices_list changed.
func (e *Engine) updateDevice(r *Result, old, nd *device, now time.Time) bool {
	changed := false
	if old.dev.FriendlyName != nd.dev.FriendlyName {
		if e.byName[old.dev.FriendlyName] == old {
			delete(e.byName, old.dev.FriendlyName)
		}
		e.byName[nd.dev.FriendlyName] = old
		if old.enabled {
			e.publishEvent(r, old, "device_renamed", fmt.Sprintf(`{"from":%s,"to":%s}`, jsonString(old.dev.FriendlyName), jsonString(nd.dev.FriendlyName)), now)
		}
		changed = true
	}
	if old.dev.Model != nd.dev.Model || old.interviewed != nd.interviewed || old.supported != nd.supported || old.enabled != nd.enabled || len(old.dev.Properties) != len(nd.dev.Properties) {
		changed = true
	}
	old.dev = nd.dev
	old.entrySum = nd.entrySum
	old.supported, old.interviewed = nd.supported, nd.interviewed
	if o, ok := e.cfg.Overrides[old.dev.IEEE]; ok {
		nd.enabled = nd.enabled && o.Enabled
	} else {
		old.model = nd.model
	}
	if old.model == "unknown" || old.model == "" {
		old.model = nd.model
	}
	old.enabled = nd.enabled
	prev := old.planIndex
	old.planIndex = e.planFor(&old.dev)
	if old.planIndex != prev {
		e.rebuildState(r, old, now)
	}
	return changed
}

// removeDevice forgets a device and clears every retained topic we
// published for it.
func (e *Engine) removeDevice(r *Result, d *device, now time.Time) {
	if d.enabled {
		e.publishEvent(r, d, "device_removed", fmt.Sprintf(`{"ieee_address":%s,"friendly_name":%s}`, jsonString(d.dev.IEEE), jsonString(d.dev.FriendlyName)), now)
	}
	e.clearRetained(r, d)
	for _, p := range d.pending {
		e.respond(r, d.id, p.id, "error", "device was removed", now)
	}
	e.setPending(d, nil)
	delete(e.devices, d.dev.IEEE)
	if e.byName[d.dev.FriendlyName] == d {
		delete(e.byName, d.dev.FriendlyName)
	}
	if e.byID[d.id] == d {
		delete(e.byID, d.id)
	}
}

func (e *Engine) clearRetained(r *Result, d *device) {
	topics := make([]string, 0, len(d.retained))
	for t := range d.retained {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		r.Publish = append(r.Publish, Message{Topic: t, Payload: nil, QoS: e.cfg.QoS, Retain: true,
			Latest: strings.HasPrefix(t, d.topicBase+"state/")})
	}
	d.retained = map[string]bool{}
}

func (e *Engine) handleGroups(r *Result, msg Message) {
	list := gjson.ParseBytes(msg.Payload)
	if !list.IsArray() {
		return
	}
	e.groups = map[string]*z2mGroup{}
	e.groupByName = map[string]*z2mGroup{}
	list.ForEach(func(_, v gjson.Result) bool {
		g := &z2mGroup{id: v.Get("id").String(), name: v.Get("friendly_name").String()}
		v.Get("members").ForEach(func(_, m gjson.Result) bool {
			g.members = append(g.members, strings.ToLower(m.Get("ieee_address").String()))
			return true
		})
		e.groups[g.id] = g
		e.groupByName[g.name] = g
		return true
	})
}

func (e *Engine) handleBridgeEvent(r *Result, msg Message, now time.Time) {
	if !gjson.ValidBytes(msg.Payload) {
		// data is republished raw: it must be JSON.
		r.Diagnostics = append(r.Diagnostics, Diagnostic{Level: "warn", Msg: "malformed zigbee2mqtt bridge event", Topic: msg.Topic, Detail: preview(msg.Payload)})
		return
	}
	typ := gjson.GetBytes(msg.Payload, "type").String()
	data := gjson.GetBytes(msg.Payload, "data")
	ieee := strings.ToLower(data.Get("ieee_address").String())
	if typ == "" || ieee == "" {
		return
	}
	name := typ
	if typ == "device_interview" {
		if st := data.Get("status").String(); st != "" {
			name = typ + "_" + st
		}
	}
	raw := data.Raw
	if raw == "" {
		raw = "{}"
	}
	if d := e.devices[ieee]; d != nil {
		if d.enabled {
			e.publishEvent(r, d, name, raw, now)
		}
		return
	}
	// A device that is not in bridge/devices yet (joining): report the event
	// under the id it will get.
	id := ieee
	if o, ok := e.cfg.Overrides[ieee]; ok && validLevel(o.DeviceID) {
		id = o.DeviceID
	}
	if !validLevel(id) {
		r.Diagnostics = append(r.Diagnostics, Diagnostic{Level: "warn", Msg: "ignored a bridge event whose ieee_address is not one topic level", Topic: msg.Topic, Detail: preview([]byte(id))})
		return
	}
	e.publishEventTo(r, id, name, raw, now)
}

func (e *Engine) replayPending(r *Result, now time.Time) {
	names := make([]string, 0, len(e.pendingUnknown))
	for n := range e.pendingUnknown {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		msg := e.pendingUnknown[n]
		delete(e.pendingUnknown, n)
		e.handleUpstream(r, msg, now)
	}
	e.pendingUnknown = map[string]Message{}
	e.pendingBytes = 0
}

// observeOwnRetained records a retained topic of ours seen at startup; if
// its device no longer exists it is cleared once the device list is known.
func (e *Engine) observeOwnRetained(r *Result, id string, msg Message) {
	if !msg.Retain || len(msg.Payload) == 0 || e.byID[id] != nil {
		return
	}
	if e.ghosts[id] == nil {
		e.ghosts[id] = map[string]bool{}
	}
	e.ghosts[id][msg.Topic] = true
	if e.devicesKnown {
		e.sweepGhosts(r)
	}
}

func (e *Engine) sweepGhosts(r *Result) {
	ids := make([]string, 0, len(e.ghosts))
	for id := range e.ghosts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if e.byID[id] != nil {
			continue
		}
		topics := make([]string, 0, len(e.ghosts[id]))
		for t := range e.ghosts[id] {
			topics = append(topics, t)
		}
		sort.Strings(topics)
		for _, t := range topics {
			r.Publish = append(r.Publish, Message{Topic: t, QoS: e.cfg.QoS, Retain: true})
		}
		r.Diagnostics = append(r.Diagnostics, Diagnostic{Level: "info", Msg: "cleared retained topics of a device that no longer exists", DeviceID: id})
	}
	e.ghosts = map[string]map[string]bool{}
}
