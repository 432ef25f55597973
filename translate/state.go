package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// maxStateKeys bounds a device's merged state, which otherwise grows with
// every new key a payload brings.
const maxStateKeys = 1024

// errStateFull is returned when a new key would exceed maxStateKeys.
var errStateFull = fmt.Errorf("the device's state already holds %d keys; new keys are dropped", maxStateKeys)

// stateObj is a device's merged IoT2MQTT state: top-level keys in first-seen
// order with their JSON values.
type stateObj struct {
	keys  []string
	vals  [][]byte
	index map[string]int // position in keys, once there are many
}

func (s *stateObj) find(key string) int {
	if s.index != nil {
		if i, ok := s.index[key]; ok {
			return i
		}
		return -1
	}
	for i, k := range s.keys {
		if k == key {
			return i
		}
	}
	return -1
}

func (s *stateObj) get(key string) ([]byte, bool) {
	if i := s.find(key); i >= 0 {
		return s.vals[i], true
	}
	return nil, false
}

// set writes key; it fails with errStateFull for a new key when the state
// holds maxStateKeys.
func (s *stateObj) set(key string, val []byte) error {
	if i := s.find(key); i >= 0 {
		s.vals[i] = append(s.vals[i][:0], val...)
		return nil
	}
	if len(s.keys) >= maxStateKeys {
		return errStateFull
	}
	s.keys = append(s.keys, key)
	s.vals = append(s.vals, append([]byte(nil), val...))
	// A linear scan is fastest for the usual handful of keys; a payload
	// with thousands would make it quadratic.
	if s.index == nil && len(s.keys) > 32 {
		s.index = make(map[string]int, len(s.keys))
		for i, k := range s.keys {
			s.index[k] = i
		}
	} else if s.index != nil {
		s.index[key] = len(s.keys) - 1
	}
	return nil
}

// appendJSON appends the state as a JSON object.
func (s *stateObj) appendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	for i, k := range s.keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = append(dst, s.vals[i]...)
	}
	return append(dst, '}')
}

// number returns the number at a path whose first component is a key.
func (s *stateObj) number(path string) (float64, bool) {
	key, rest, nested := strings.Cut(path, ".")
	raw, ok := s.get(key)
	if !ok {
		return 0, false
	}
	v := gjson.ParseBytes(raw)
	if nested {
		v = v.Get(rest)
	}
	return v.Num, v.Type == gjson.Number
}

// setPath writes val at an sjson path whose first component is key.
func (s *stateObj) setPath(path string, val []byte) error {
	key, rest, nested := strings.Cut(path, ".")
	if !nested {
		return s.set(path, val)
	}
	cur, ok := s.get(key)
	if !ok || !isJSONObject(cur) {
		cur = []byte("{}")
	}
	out, err := sjson.SetRawBytes(append([]byte(nil), cur...), rest, val)
	if err != nil {
		return err
	}
	return s.set(key, out)
}

// timestampLayout is the engine's timestamp format: RFC 3339, UTC,
// microseconds ("2025-10-13T10:30:00.123456Z").
const timestampLayout = "2006-01-02T15:04:05.000000Z07:00"

// Timestamp formats t as the engine's timestamps (timestampLayout).
func Timestamp(t time.Time) string {
	var b [len("2006-01-02T15:04:05.000000Z")]byte
	return string(appendTimestamp(b[:0], t))
}

// appendTimestamp appends t in timestampLayout. It writes the digits
// itself: every state message needs a timestamp, and the layout
// interpreter of time.Format took a tenth of the engine's time.
func appendTimestamp(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, timestampLayout)
	}
	hour, minute, second := t.Clock()
	dst = appendDigits(dst, year, 4)
	dst = append(dst, '-')
	dst = appendDigits(dst, int(month), 2)
	dst = append(dst, '-')
	dst = appendDigits(dst, day, 2)
	dst = append(dst, 'T')
	dst = appendDigits(dst, hour, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, minute, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, second, 2)
	dst = append(dst, '.')
	dst = appendDigits(dst, t.Nanosecond()/1000, 6)
	return append(dst, 'Z')
}

// appendDigits appends the width lowest decimal digits of v (v >= 0),
// zero-padded.
func appendDigits(dst []byte, v, width int) []byte {
	n := len(dst) + width
	dst = append(dst, make([]byte, width)...)
	for i := n - 1; i >= n-width; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
	return dst
}

// timestamp is Timestamp(now), formatted once for all the publications of
// one message (last_update, envelope, events, command response). Only the
// engine's goroutine may call it; errorMessage, which InstanceError serves
// to any goroutine, formats its own.
func (e *Engine) timestamp(now time.Time) string {
	if e.ts == "" || !now.Equal(e.tsAt) {
		e.tsAt, e.ts = now, Timestamp(now)
	}
	return e.ts
}

// handleState translates a device state payload into the merged state and
// publishes the envelope, per-key topics and events.
func (e *Engine) handleState(r *Result, d *device, msg Message, now time.Time) {
	if !d.enabled {
		return
	}
	payload := msg.Payload
	if !isJSONObject(payload) {
		e.publishError(r, d.topicBase+"error", "INVALID_PAYLOAD", fmt.Sprintf("%s: payload is not a JSON object: %s", msg.Topic, preview(payload)), "warning", now)
		r.Diagnostics = append(r.Diagnostics, Diagnostic{Level: "warn", Msg: "malformed zigbee2mqtt payload", Topic: msg.Topic, DeviceID: d.id})
		return
	}
	ts := e.timestamp(now)
	d.remember(payload, now)
	e.translatePayload(r, d, payload, true, now)
	d.hasState = true
	d.lastUpdate = ts
	e.publishState(r, d, now, nil, false)
	e.checkPending(r, d, payload, now)
}

// translatePayload merges a Zigbee2MQTT state payload into the device's
// upstream state and, through the device's plan, into its IoT2MQTT state.
// live is false when the device's upstream state is translated again after
// its plan changed: nothing is new then, so no event fires.
func (e *Engine) translatePayload(r *Result, d *device, payload []byte, live bool, now time.Time) {
	plan := d.plan
	full := false
	gjson.ParseBytes(payload).ForEach(func(k, v gjson.Result) bool {
		key := k.Str
		if live {
			d.noteKey(key)
			_ = d.upstream.set(key, []byte(v.Raw)) // beyond maxStateKeys the state drops the key too
		}
		if plan.Events[key] {
			if live {
				e.emitPayloadEvent(r, d, key, v, payload, now)
			}
			return true
		}
		if isEventSibling(plan, &d.dev, key, payload) {
			return true
		}
		rules := d.byKey[key]
		if len(rules) == 0 {
			if plan.Unmatched == "pass" && plan.KeepKey(key) && d.state.set(plan.PassKey(key), []byte(v.Raw)) != nil {
				full = true
			}
			return true
		}
		for _, b := range rules {
			e.applyRule(r, d, b, v, true, now)
		}
		return true
	})
	for _, b := range d.nested {
		v := gjson.GetBytes(payload, b.From)
		e.applyRule(r, d, b, v, v.Exists(), now)
	}
	for _, b := range d.onMissing {
		if !isSimpleKey(b.From) || gjson.GetBytes(payload, b.From).Exists() {
			continue
		}
		e.applyRule(r, d, b, gjson.Result{}, false, now)
	}
	if full {
		r.Diagnostics = append(r.Diagnostics, Diagnostic{Level: "warn", Msg: "dropped new state keys", Topic: d.stateTopic, DeviceID: d.id, Detail: errStateFull.Error()})
	}
}

// rebuildState translates the device's upstream state again after its plan
// changed (a reload, a new definition): keys the new plan no longer produces
// leave the envelope and their retained state/{key} topics are cleared, and
// keys it produces now appear at once.
func (e *Engine) rebuildState(r *Result, d *device, now time.Time) {
	if !d.hasState || !d.enabled {
		return
	}
	old := d.state
	d.state = stateObj{}
	e.translatePayload(r, d, d.upstream.appendJSON(nil), false, now)
	removed := false
	for _, k := range old.keys {
		if d.state.find(k) >= 0 {
			continue
		}
		removed = true
		if kt, ok := d.lastPublished[k]; ok {
			r.Publish = append(r.Publish, Message{Topic: kt.topic, QoS: e.cfg.QoS, Retain: true, Latest: true})
			delete(d.lastPublished, k)
			delete(d.retained, kt.topic)
		}
	}
	if removed || !sameState(&old, &d.state) {
		e.publishState(r, d, now, nil, false)
	}
}

// sameState reports whether two states hold the same keys and values.
func sameState(a, b *stateObj) bool {
	if len(a.keys) != len(b.keys) {
		return false
	}
	for i, k := range a.keys {
		v, ok := b.get(k)
		if !ok || !bytes.Equal(v, a.vals[i]) {
			return false
		}
	}
	return true
}

// isEventSibling reports whether key travels with an event key of the
// same payload in the event's data (action_group with action) rather than
// in state. A setting the device takes (click_mode beside click) is state,
// and so is a key whose event key the payload lacks.
func isEventSibling(p *mapping.Plan, dev *mapping.Device, key string, payload []byte) bool {
	if len(p.Events) == 0 {
		return false
	}
	prefix, _, ok := strings.Cut(key, "_")
	if !ok || !p.Events[prefix] {
		return false
	}
	if prop := dev.Property(key); prop != nil && prop.Writable() {
		return false
	}
	return gjson.GetBytes(payload, prefix).Exists()
}

// applyRule runs one bound rule on a value and writes the result into the
// merged state. It returns the top-level key it wrote.
func (e *Engine) applyRule(r *Result, d *device, b *mapping.Bound, v gjson.Result, exists bool, now time.Time) (string, bool) {
	rule := b.Rule
	st := e.stats.rule(rule)
	var out []byte
	switch {
	case !exists || v.Type == gjson.Null:
		policy, what := rule.Missing, "source key is missing"
		if exists {
			policy, what = rule.Null, "source value is null"
		}
		switch policy {
		case "skip":
			st.skipped++
			return "", false
		case "default":
			out = mustJSON(rule.Default)
		case "error":
			st.failed++
			e.ruleError(r, d, b, what, now)
			return "", false
		default: // "null"
			out = []byte("null")
		}
	case len(rule.Read) == 0:
		out = []byte(v.Raw)
	default:
		val, err := rule.Read.Read(v.Value())
		if errors.Is(err, mapping.ErrDrop) {
			st.skipped++
			return "", false
		}
		if err != nil {
			st.failed++
			e.ruleError(r, d, b, err.Error(), now)
			return "", false
		}
		out = appendJSON(nil, val)
	}
	top, _, _ := strings.Cut(b.To, ".")
	if !d.plan.KeepKey(top) {
		st.skipped++
		return "", false
	}
	if err := d.state.setPath(b.To, out); err != nil {
		st.failed++
		e.ruleError(r, d, b, err.Error(), now)
		return "", false
	}
	st.matched++
	return top, true
}

func (e *Engine) ruleError(r *Result, d *device, b *mapping.Bound, msg string, now time.Time) {
	text := fmt.Sprintf("rule %s (%s → %s): %s", b.Rule.ID(), b.From, b.To, msg)
	e.publishError(r, d.topicBase+"error", "MAPPING_ERROR", text, "warning", now)
	r.Diagnostics = append(r.Diagnostics, Diagnostic{Level: "warn", Msg: "mapping rule failed", DeviceID: d.id, Detail: text})
}

// publishState publishes the envelope and the state/{key} topics whose value
// changed. With filter, only those keys are published, not retained (a get
// answer must not replace the retained full state).
func (e *Engine) publishState(r *Result, d *device, now time.Time, filter map[string]bool, force bool) {
	buf := make([]byte, 0, 96+len(d.topicBase)+32*len(d.state.keys))
	buf = append(buf, `{"timestamp":"`...)
	buf = append(buf, e.timestamp(now)...)
	buf = append(buf, `","device_id":`...)
	buf = appendString(buf, d.id)
	buf = append(buf, `,"state":{`...)
	first := true
	for i, k := range d.state.keys {
		if filter != nil && !filter[k] {
			continue
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = appendString(buf, k)
		buf = append(buf, ':')
		buf = append(buf, d.state.vals[i]...)
	}
	online := e.online(d)
	if filter == nil || filter["online"] {
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = append(buf, `"online":`...)
		buf = strconv.AppendBool(buf, online)
	}
	if d.lastUpdate != "" && (filter == nil || filter["last_update"]) {
		if !first {
			buf = append(buf, ',')
		}
		buf = append(buf, `"last_update":"`...)
		buf = append(buf, d.lastUpdate...)
		buf = append(buf, '"')
	}
	buf = append(buf, "}}"...)
	retain := e.cfg.RetainState && filter == nil
	topic := d.stateTopic
	r.Publish = append(r.Publish, Message{Topic: topic, Payload: buf, QoS: e.cfg.QoS, Retain: retain})
	if retain && !d.retained[topic] { // a lookup costs less than a store
		d.retained[topic] = true
	}
	if !e.cfg.StateKeyTopics || filter != nil {
		return
	}
	if d.lastPublished == nil {
		d.lastPublished = map[string]*keyTopic{}
	}
	for i, k := range d.state.keys {
		e.publishStateKey(r, d, k, d.state.vals[i], force)
	}
	e.publishStateKey(r, d, "online", jsonBool(online), force)
}

var jsonTrue, jsonFalse = []byte("true"), []byte("false")

// jsonBool returns b's JSON text without allocating; the slice is shared,
// so callers only read it.
func jsonBool(b bool) []byte {
	if b {
		return jsonTrue
	}
	return jsonFalse
}

// keyTopic is one state/{key} topic of a device and the payload last
// published on it. An entry exists only once its topic was published.
type keyTopic struct {
	topic string
	last  []byte // immutable once published
}

func (e *Engine) publishStateKey(r *Result, d *device, key string, val []byte, force bool) {
	kt, known := d.lastPublished[key]
	if !known {
		if !validLevel(key) {
			return
		}
		kt = &keyTopic{topic: d.topicBase + "state/" + key}
		d.lastPublished[key] = kt
		if e.cfg.RetainState {
			d.retained[kt.topic] = true
		}
	}
	skipIfSame := known && !force // publish only a changed value
	// Strings are published raw, like the platform's Python client; every
	// other value as JSON (true, 75, {"x":1}).
	var payload []byte
	if len(val) > 0 && val[0] == '"' {
		payload = []byte(gjson.ParseBytes(val).String())
		if skipIfSame && bytes.Equal(kt.last, payload) {
			return
		}
	} else {
		if skipIfSame && bytes.Equal(kt.last, val) {
			return
		}
		payload = append([]byte(nil), val...)
	}
	kt.last = payload
	r.Publish = append(r.Publish, Message{Topic: kt.topic, Payload: payload, QoS: e.cfg.QoS, Retain: e.cfg.RetainState, Latest: true})
}

// handleAvailability handles `<name>/availability` ("online", "offline", or
// {"state":"online"}).
func (e *Engine) handleAvailability(r *Result, d *device, payload []byte, now time.Time) {
	s := strings.TrimSpace(string(payload))
	if gjson.ValidBytes(payload) {
		if st := gjson.GetBytes(payload, "state"); st.Exists() {
			s = st.String()
		}
	}
	if s != "online" && s != "offline" {
		e.publishError(r, d.topicBase+"error", "INVALID_PAYLOAD", fmt.Sprintf("availability of %q is neither online nor offline: %s", d.dev.FriendlyName, preview(payload)), "warning", now)
		return
	}
	if s == d.availability {
		return
	}
	d.availability = s
	if !d.enabled {
		return
	}
	e.publishAvailability(r, d)
	if d.hasState || s == "online" {
		e.publishState(r, d, now, nil, false)
	}
}

func (e *Engine) publishAvailability(r *Result, d *device) {
	s := "offline"
	if e.online(d) {
		s = "online"
	}
	topic := d.topicBase + "availability"
	r.Publish = append(r.Publish, Message{Topic: topic, Payload: []byte(s), QoS: e.cfg.QoS, Retain: true})
	d.retained[topic] = true
}

// emitPayloadEvent publishes an event for an event key of a state payload,
// e.g. {"action":"single"} → event "single" with data {"action":"single"}.
// Sibling keys such as action_rate go into data too.
func (e *Engine) emitPayloadEvent(r *Result, d *device, key string, v gjson.Result, payload []byte, now time.Time) {
	if v.Type == gjson.Null || (v.Type == gjson.String && v.Str == "") {
		return
	}
	data := []byte{'{'}
	data = appendString(data, key)
	data = append(data, ':')
	data = append(data, v.Raw...)
	gjson.ParseBytes(payload).ForEach(func(k, sv gjson.Result) bool {
		if strings.HasPrefix(k.Str, key+"_") {
			data = append(data, ',')
			data = appendString(data, k.Str)
			data = append(data, ':')
			data = append(data, sv.Raw...)
		}
		return true
	})
	data = append(data, '}')
	e.publishEvent(r, d, v.String(), string(data), now)
}

func (e *Engine) publishEvent(r *Result, d *device, event, data string, now time.Time) {
	e.publishEventTo(r, d.id, event, data, now)
}

func (e *Engine) publishEventTo(r *Result, id, event, data string, now time.Time) {
	ts := e.timestamp(now)
	local := `{"timestamp":"` + ts + `","event":` + jsonString(event) + `,"data":` + data + `}`
	global := `{"source":` + jsonString(e.cfg.InstanceID+"_"+id) + `,"event":` + jsonString(event) + `,"data":` + data + `,"timestamp":"` + ts + `"}`
	r.Publish = append(r.Publish,
		Message{Topic: e.prefix + "devices/" + id + "/events", Payload: []byte(local), QoS: e.cfg.QoS},
		Message{Topic: e.globalEvts, Payload: []byte(global), QoS: e.cfg.QoS},
	)
}

// publishError publishes {timestamp, error_code, message, severity} on topic.
func (e *Engine) publishError(r *Result, topic, code, msg, severity string, now time.Time) {
	r.Publish = append(r.Publish, e.errorMessage(topic, code, msg, severity, now))
}

func (e *Engine) errorMessage(topic, code, msg, severity string, now time.Time) Message {
	payload := `{"timestamp":"` + Timestamp(now) + `","error_code":` + jsonString(code) + `,"message":` + jsonString(msg) + `,"severity":` + jsonString(severity) + `}`
	return Message{Topic: topic, Payload: []byte(payload), QoS: e.cfg.QoS}
}

// InstanceError is the instance-level error publication (`P/error`) for
// problems outside the engine, such as a failed reload or an upstream
// crash. It reads only fixed configuration, so any goroutine may call it.
func (e *Engine) InstanceError(code, msg, severity string, now time.Time) Message {
	return e.errorMessage(e.prefix+"error", code, msg, severity, now)
}

func preview(b []byte) string {
	const max = 120
	s := string(b)
	if len(s) > max {
		s = s[:max] + "…"
	}
	if !utf8.ValidString(s) {
		s = strconv.Quote(s)
	}
	return s
}

func jsonString(s string) string { return string(appendString(nil, s)) }

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, `\u00`...)
				b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// appendJSON appends a transform result as JSON.
func appendJSON(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, x)
	case float64:
		return strconv.AppendFloat(b, x, 'f', -1, 64)
	case string:
		return appendString(b, x)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, out...)
}

func mustJSON(v any) []byte { return appendJSON(nil, mapping.Normalize(v)) }

// isJSONObject reports whether b is valid JSON holding an object. Unlike
// gjson.ParseBytes(b).IsObject() it does not copy b into a string first.
func isJSONObject(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && gjson.ValidBytes(t)
}
