package translate

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// pendingCmd is a command with an id waiting for its outcome.
type pendingCmd struct {
	id       string
	want     map[string]gjson.Result // Zigbee2MQTT keys still to confirm
	deadline time.Time
	// unechoed: no key of the command comes back as state, so it succeeds
	// at the deadline unless Zigbee2MQTT logs its failure first.
	unechoed bool
	// keys are the set payload's keys, to match a failure Zigbee2MQTT logs.
	keys []string
}

// unechoedGrace is how long a command whose keys Zigbee2MQTT never echoes
// waits for a failure in bridge/logging ("No converter available for …")
// before it is answered success. Zigbee2MQTT logs such failures as it
// handles the set, within milliseconds.
const unechoedGrace = time.Second

// bridgeCmd is a bridge request waiting for its bridge/response.
type bridgeCmd struct {
	cmdID    string
	deadline time.Time
}

// metaKeys are command envelope keys, never command values.
var metaKeys = map[string]bool{"id": true, "timestamp": true, "timeout": true}

// setOnlyKeys are the keys Zigbee2MQTT takes in a set beyond a device's
// exposes, with the devices that take them: "any", or "light" (and per
// endpoint, brightness_step_l1). None of them comes back as state.
var setOnlyKeys = map[string]string{
	"read": "any", "write": "any", "command": "any", "zcl_command": "any", "factory_reset": "any",
	"scene_store": "any", "scene_recall": "any", "scene_add": "any", "scene_remove": "any",
	"scene_remove_all": "any", "scene_rename": "any", "on_time": "any", "off_wait_time": "any", "transition": "any",
	"brightness_step": "light", "brightness_step_onoff": "light", "brightness_move": "light",
	"brightness_move_onoff": "light", "color_temp_step": "light", "color_temp_move": "light", "hue_step": "light",
	"hue_move": "light", "saturation_step": "light", "saturation_move": "light", "alert": "light", "flash": "light",
	"effect": "light",
}

// parsedCmd is a decoded IoT2MQTT command.
type parsedCmd struct {
	id      string
	values  gjson.Result
	timeout time.Duration
}

// parseCommand validates a cmd payload and applies the retained, duplicate
// and staleness rules. ok is false when the command must not run.
func (e *Engine) parseCommand(r *Result, deviceID string, msg Message, now time.Time) (parsedCmd, bool) {
	var c parsedCmd
	if len(bytes.TrimSpace(msg.Payload)) == 0 {
		// The platform clears an instance's topics with empty retained
		// payloads: a clear, not a command.
		return c, false
	}
	if msg.Retain {
		r.Diagnostics = append(r.Diagnostics, Diagnostic{Level: "warn", Msg: "ignored a retained command; commands must not be retained", Topic: msg.Topic, DeviceID: deviceID})
		return c, false
	}
	if !isJSONObject(msg.Payload) {
		e.publishError(r, e.prefix+"devices/"+deviceID+"/error", "INVALID_PAYLOAD", fmt.Sprintf("%s: command is not a JSON object: %s", msg.Topic, preview(msg.Payload)), "error", now)
		r.Diagnostics = append(r.Diagnostics, Diagnostic{Level: "warn", Msg: "malformed command", Topic: msg.Topic, DeviceID: deviceID})
		return c, false
	}
	root := gjson.ParseBytes(msg.Payload)
	c.id = root.Get("id").String()
	if c.id != "" && e.seenCmdIDs.seen(c.id) {
		r.Diagnostics = append(r.Diagnostics, Diagnostic{Level: "warn", Msg: "ignored a duplicate command id", Topic: msg.Topic, DeviceID: deviceID, Detail: c.id})
		return c, false
	}
	if ts := root.Get("timestamp"); ts.Exists() {
		if t, ok := parseTimestamp(ts.String(), e.cfg.Location); ok && now.Sub(t) > e.cfg.StaleAfter {
			r.Diagnostics = append(r.Diagnostics, Diagnostic{Level: "warn", Msg: "dropped a stale command", Topic: msg.Topic, DeviceID: deviceID,
				Detail: fmt.Sprintf("timestamp %s is %s old", ts.String(), now.Sub(t).Round(time.Second))})
			return c, false
		}
	}
	if t := root.Get("timeout"); t.Exists() && t.Num > 0 {
		c.timeout = time.Duration(t.Num * float64(time.Millisecond))
	}
	c.values = root.Get("values")
	if !c.values.Exists() {
		// Flat form: every key but id, timestamp and timeout is a value.
		flat := []byte("{}")
		root.ForEach(func(k, v gjson.Result) bool {
			if !metaKeys[k.Str] {
				flat, _ = sjson.SetRawBytes(flat, gjson.Escape(k.Str), []byte(v.Raw))
			}
			return true
		})
		c.values = gjson.ParseBytes(flat)
	}
	if !c.values.IsObject() {
		e.publishError(r, e.prefix+"devices/"+deviceID+"/error", "INVALID_PAYLOAD", msg.Topic+": values must be an object", "error", now)
		e.respond(r, deviceID, c.id, "error", "values must be an object", now)
		return c, false
	}
	return c, true
}

// parseTimestamp accepts RFC 3339, and naive ISO 8601 meaning local time
// in loc.
func parseTimestamp(s string, loc *time.Location) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// handleCommand translates `devices/{id}/cmd` into a Zigbee2MQTT set.
func (e *Engine) handleCommand(r *Result, deviceID string, msg Message, now time.Time) {
	c, ok := e.parseCommand(r, deviceID, msg, now)
	if !ok {
		return
	}
	if deviceID == "bridge" {
		e.handleBridgeCommand(r, c, now)
		return
	}
	d := e.byID[deviceID]
	if d == nil || !d.enabled {
		e.publishError(r, e.prefix+"devices/"+deviceID+"/error", "UNKNOWN_DEVICE", fmt.Sprintf("no device %q in this instance", deviceID), "error", now)
		e.respond(r, deviceID, c.id, "error", "unknown device", now)
		return
	}
	topic, err := e.z2mTopic(d.dev.FriendlyName, "set")
	if err != nil {
		err = fmt.Errorf("command for %s refused: %w", d.id, err)
		e.publishError(r, d.topicBase+"error", "COMMAND_ERROR", err.Error(), "error", now)
		e.respond(r, d.id, c.id, "error", err.Error(), now)
		return
	}
	set, err := e.buildSet(d, c.values)
	if err != nil {
		e.publishError(r, d.topicBase+"error", "COMMAND_ERROR", err.Error(), "error", now)
		e.respond(r, d.id, c.id, "error", err.Error(), now)
		return
	}
	r.Publish = append(r.Publish, Message{Topic: topic, Payload: set, QoS: e.cfg.QoS})
	if c.id == "" {
		return
	}
	want := map[string]gjson.Result{}
	var keys []string
	gjson.ParseBytes(set).ForEach(func(k, v gjson.Result) bool {
		keys = append(keys, k.Str)
		if e.awaited(d, k.Str) {
			want[k.Str] = v
		}
		return true
	})
	if len(want) == 0 {
		e.setPending(d, append(d.pending, &pendingCmd{id: c.id, deadline: now.Add(unechoedGrace), unechoed: true, keys: keys}))
		return
	}
	timeout := c.timeout
	if timeout == 0 {
		timeout = e.cfg.CommandTimeout
		if d.sleepy() {
			timeout = e.cfg.SleepyCommandTimeout
		}
	}
	e.setPending(d, append(d.pending, &pendingCmd{id: c.id, want: want, deadline: now.Add(timeout), keys: keys}))
}

// setPending replaces d's commands awaiting confirmation, keeping the
// engine's count of them, so NextDeadline need not visit every device.
func (e *Engine) setPending(d *device, p []*pendingCmd) {
	e.awaiting += len(p) - len(d.pending)
	d.pending = p
}

// z2mTopic is `{z2m}/{name}/{suffix}`, the topic of a Zigbee2MQTT device or
// group. A name that cannot be part of an MQTT topic name is an error: with
// '+' or '#' the topic would be a wildcard filter, which the broker refuses
// (or, worse, a client reads as matching other devices). A '/' is fine:
// Zigbee2MQTT names nest.
func (e *Engine) z2mTopic(name, suffix string) (string, error) {
	topic := e.z2mPrefix + name + "/" + suffix
	var problem string
	switch {
	case name == "":
		problem = "is empty"
	case strings.ContainsAny(name, "+#"):
		problem = "contains an MQTT wildcard ('+' or '#')"
	case strings.ContainsRune(name, 0):
		problem = "contains a NUL character"
	case !utf8.ValidString(name):
		problem = "is not valid UTF-8"
	case len(topic) > 65535:
		problem = fmt.Sprintf("is %d bytes long, too long for an MQTT topic", len(name))
	default:
		return topic, nil
	}
	return "", fmt.Errorf("zigbee2mqtt friendly name %s %s; rename it in Zigbee2MQTT", preview([]byte(strconv.Quote(name))), problem)
}

// awaited reports whether a set key will be confirmed by a state echo.
func (e *Engine) awaited(d *device, key string) bool {
	if _, setOnly := setOnlyKeys[key]; setOnly {
		return false
	}
	if len(d.dev.Properties) == 0 {
		return true
	}
	p := d.dev.Property(key)
	return p != nil && p.Access&1 != 0
}

// buildSet turns IoT2MQTT values into a Zigbee2MQTT set payload through the
// device's writable rules. It speaks the platform's command vocabulary:
// "+N"/"-N" are relative to the device's current state and clamped to the
// expose's range, X_step is X: "+N", and values or keys the exposes rule
// out are refused with the reason.
func (e *Engine) buildSet(d *device, values gjson.Result) ([]byte, error) {
	values = expandSteps(d, values)
	set := []byte("{}")
	used := map[string]bool{}
	var problems []string
	for _, b := range d.plan.Rules {
		if !b.Rule.CanWrite() {
			continue
		}
		v := values.Get(b.To)
		if !v.Exists() {
			continue
		}
		top, _, _ := strings.Cut(b.To, ".")
		used[top] = true
		if !b.Writable {
			problems = append(problems, fmt.Sprintf("%s is read-only", b.To))
			continue
		}
		out, err := writeValue(d, b, v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", b.To, err))
			continue
		}
		if obj, ok := out.(map[string]any); ok && b.Prop != nil {
			out = fitFeatures(obj, b.Prop)
		}
		set, err = sjson.SetRawBytes(set, b.From, appendJSON(nil, out))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", b.To, err))
		}
	}
	values.ForEach(func(k, v gjson.Result) bool {
		if used[k.Str] {
			return true
		}
		if d.plan.Unmatched == "drop" {
			problems = append(problems, fmt.Sprintf("%s: no rule maps this key", k.Str))
			return true
		}
		if why := refusedKey(d, k.Str); why != "" {
			problems = append(problems, fmt.Sprintf("%s: %s", k.Str, why))
			return true
		}
		set, _ = sjson.SetRawBytes(set, gjson.Escape(k.Str), []byte(v.Raw))
		return true
	})
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, fmt.Errorf("command for %s rejected: %s", d.id, strings.Join(problems, "; "))
	}
	if string(set) == "{}" {
		return nil, fmt.Errorf("command for %s has no values", d.id)
	}
	return set, nil
}

// writeValue converts one command value through rule b. A relative value
// ("+10", "-10") is added to the device's current state and the result
// clamped to the expose's range; an absolute value outside that range, or
// one an enum or binary expose does not list, is an error that says why.
func writeValue(d *device, b *mapping.Bound, v gjson.Result) (any, error) {
	val := v.Value()
	delta, relative := relativeValue(v)
	if relative {
		cur, ok := d.state.number(b.To)
		if !ok {
			return nil, fmt.Errorf("%s is relative, and the device has reported no numeric %s yet", v.Raw, b.To)
		}
		val = cur + delta
	}
	out, err := b.Rule.Write(val)
	if err != nil {
		return nil, err
	}
	p := b.Prop
	if p == nil {
		return out, nil
	}
	if !p.Accepts(out) {
		// Refused at once: Zigbee2MQTT would only log it, and the command
		// would end in a timeout.
		return nil, fmt.Errorf("%s is not one of the device's values for %s (%s)", v.Raw, b.From, strings.Join(p.Allowed(), ", "))
	}
	n, isNumber := out.(float64)
	if p.Type != "numeric" || !isNumber || (p.Min == nil && p.Max == nil) || slices.Contains(p.Presets, n) {
		return out, nil
	}
	lo, hi := math.Inf(-1), math.Inf(1)
	if p.Min != nil {
		lo = *p.Min
	}
	if p.Max != nil {
		hi = *p.Max
	}
	if relative {
		return math.Max(lo, math.Min(hi, n)), nil
	}
	if n < lo || n > hi {
		return nil, fmt.Errorf("%s is outside the device's range for %s (%s)", v.Raw, b.From, platformRange(b, lo, hi))
	}
	return out, nil
}

// platformRange renders an expose's range in the platform's units, read
// through the rule (254 is 100 for brightness, mireds are Kelvin).
func platformRange(b *mapping.Bound, lo, hi float64) string {
	if math.IsInf(lo, 0) || math.IsInf(hi, 0) || len(b.Rule.Read) == 0 {
		return fmt.Sprintf("%g to %g", lo, hi)
	}
	a, err1 := b.Rule.Read.Read(lo)
	z, err2 := b.Rule.Read.Read(hi)
	fa, ok1 := a.(float64)
	fz, ok2 := z.(float64)
	if err1 != nil || err2 != nil || !ok1 || !ok2 {
		return fmt.Sprintf("%g to %g in Zigbee2MQTT's units", lo, hi)
	}
	return fmt.Sprintf("%g to %g", math.Min(fa, fz), math.Max(fa, fz))
}

// relativeValue reads "+N" or "-N".
func relativeValue(v gjson.Result) (float64, bool) {
	if v.Type != gjson.String || len(v.Str) < 2 || (v.Str[0] != '+' && v.Str[0] != '-') {
		return 0, false
	}
	f, err := strconv.ParseFloat(v.Str, 64)
	return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
}

// expandSteps rewrites X_step: N as X: "+N" where X is a key the device's
// rules write (brightness_step in percentage points, color_temp_step in
// Kelvin). Other keys, and X_step when X is given too, stay as they are.
func expandSteps(d *device, values gjson.Result) gjson.Result {
	out := ""
	values.ForEach(func(k, v gjson.Result) bool {
		base, ok := strings.CutSuffix(k.Str, "_step")
		if !ok || v.Type != gjson.Number || values.Get(gjson.Escape(base)).Exists() || !writesKey(d, base) {
			return true
		}
		if out == "" {
			out = values.Raw
		}
		rel := strconv.FormatFloat(v.Num, 'f', -1, 64)
		if v.Num >= 0 {
			rel = "+" + rel
		}
		out, _ = sjson.Delete(out, gjson.Escape(k.Str))
		out, _ = sjson.Set(out, gjson.Escape(base), rel)
		return true
	})
	if out == "" {
		return values
	}
	return gjson.Parse(out)
}

// writesKey reports whether a numeric writable rule of d writes key.
func writesKey(d *device, key string) bool {
	for _, b := range d.plan.Rules {
		if b.To == key && b.Writable && b.Rule.CanWrite() && b.Prop != nil && b.Prop.Type == "numeric" {
			return true
		}
	}
	return false
}

// refusedKey says why a command key that no rule maps cannot go to the
// device, or "" when it can: the device exposes it as writable, it is one
// of Zigbee2MQTT's set keys beyond the exposes, or the device's exposes are
// unknown.
func refusedKey(d *device, key string) string {
	props := d.dev.Properties
	if len(props) == 0 || setOnlyKeys[key] == "any" {
		return ""
	}
	light := false
	for i := range props {
		p := &props[i]
		if p.Property == key {
			if p.Writable() {
				return ""
			}
			return "the device's " + key + " is read-only"
		}
		if p.Parent == "light" {
			light = true
			if p.Endpoint != "" && setOnlyKeys[strings.TrimSuffix(key, "_"+p.Endpoint)] == "light" {
				return ""
			}
		}
	}
	if light && setOnlyKeys[key] == "light" {
		return ""
	}
	return "the device exposes no such property, so Zigbee2MQTT has no converter for it"
}

// fitFeatures renames the keys of a composite value to the composite's
// feature names where they carry its endpoint: a colour {x, y} for the
// composite color_rgb is sent as {x_rgb, y_rgb}.
func fitFeatures(obj map[string]any, p *mapping.Property) map[string]any {
	if len(p.Features) == 0 || p.Endpoint == "" {
		return obj
	}
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		if named := k + "_" + p.Endpoint; !slices.Contains(p.Features, k) && slices.Contains(p.Features, named) {
			k = named
		}
		out[k] = v
	}
	return out
}

// checkPending confirms pending commands whose values the state echo shows.
func (e *Engine) checkPending(r *Result, d *device, payload []byte, now time.Time) {
	if len(d.pending) == 0 {
		return
	}
	kept := d.pending[:0]
	for _, p := range d.pending {
		if p.unechoed {
			kept = append(kept, p)
			continue
		}
		for k, want := range p.want {
			got := gjson.GetBytes(payload, gjson.Escape(k))
			if got.Exists() && matches(k, want, got) {
				delete(p.want, k)
			}
		}
		if len(p.want) == 0 {
			e.respond(r, d.id, p.id, "success", "", now)
			continue
		}
		kept = append(kept, p)
	}
	e.setPending(d, kept)
}

// matches compares a requested Zigbee2MQTT value with an echoed one: text
// case-insensitively (a TOGGLE matches any echo), objects key by key for
// the requested keys, numbers within the tolerance of their key.
func matches(key string, want, got gjson.Result) bool {
	switch want.Type {
	case gjson.Number:
		return got.Type == gjson.Number && math.Abs(want.Num-got.Num) <= tolerance(key, want.Num)
	case gjson.String:
		return strings.EqualFold(want.Str, "toggle") || strings.EqualFold(want.Str, got.String())
	case gjson.JSON:
		if !want.IsObject() {
			return want.Raw == got.Raw
		}
		ok := true
		want.ForEach(func(k, w gjson.Result) bool {
			g := got.Get(gjson.Escape(k.Str))
			ok = g.Exists() && matches(k.Str, w, g)
			return ok
		})
		return ok
	}
	return want.Raw == got.Raw
}

// tolerance is how far an echoed number may be from the requested one.
// Lights clip colours to their gamut, so colour x/y may move by 0.05 and
// hue/saturation by 5; other numbers by 2% (at least 1 for integers above
// 1, and at least 0.02).
func tolerance(key string, want float64) float64 {
	switch key {
	case "x", "y":
		return 0.05
	case "hue", "saturation":
		return 5
	}
	tol := math.Max(0.02*math.Abs(want), 0.02)
	if want == math.Trunc(want) && math.Abs(want) > 1 {
		tol = math.Max(tol, 1)
	}
	return tol
}

// Tick expires pending commands whose deadline has passed.
func (e *Engine) Tick(now time.Time) Result {
	var r Result
	for _, ieee := range e.order {
		d := e.devices[ieee]
		if d == nil || len(d.pending) == 0 {
			continue
		}
		kept := d.pending[:0]
		for _, p := range d.pending {
			if now.Before(p.deadline) {
				kept = append(kept, p)
				continue
			}
			if p.unechoed {
				e.respond(&r, d.id, p.id, "success", "", now)
				continue
			}
			missing := make([]string, 0, len(p.want))
			for k := range p.want {
				missing = append(missing, k)
			}
			sort.Strings(missing)
			e.respond(&r, d.id, p.id, "timeout", "no confirmation from the device for "+strings.Join(missing, ", "), now)
		}
		e.setPending(d, kept)
	}
	for tx, bc := range e.bridgeCmds {
		if !now.Before(bc.deadline) {
			delete(e.bridgeCmds, tx)
			e.respond(&r, "bridge", bc.cmdID, "timeout", "no response from zigbee2mqtt", now)
		}
	}
	return r
}

// NextDeadline returns the earliest pending command deadline, if any.
func (e *Engine) NextDeadline() (time.Time, bool) {
	var best time.Time
	if e.awaiting > 0 {
		for _, d := range e.devices {
			for _, p := range d.pending {
				if best.IsZero() || p.deadline.Before(best) {
					best = p.deadline
				}
			}
		}
	}
	for _, bc := range e.bridgeCmds {
		if best.IsZero() || bc.deadline.Before(best) {
			best = bc.deadline
		}
	}
	return best, !best.IsZero()
}

// respond publishes cmd/response when the command had an id.
func (e *Engine) respond(r *Result, deviceID, cmdID, status, errText string, now time.Time) {
	e.stats.commands[status]++
	if cmdID == "" {
		return
	}
	payload := `{"cmd_id":` + jsonString(cmdID) + `,"status":"` + status + `","timestamp":"` + e.timestamp(now) + `"`
	if errText != "" {
		payload += `,"error":` + jsonString(errText)
	}
	payload += "}"
	r.Publish = append(r.Publish, Message{Topic: e.prefix + "devices/" + deviceID + "/cmd/response", Payload: []byte(payload), QoS: e.cfg.QoS})
}

// handleLogging fails the pending command of the device a bridge/logging
// error names (Zigbee2MQTT quotes friendly names: 'living room/lamp').
func (e *Engine) handleLogging(r *Result, msg Message, now time.Time) {
	if gjson.GetBytes(msg.Payload, "level").String() != "error" {
		return
	}
	text := gjson.GetBytes(msg.Payload, "message").String()
	for _, ieee := range e.order {
		d := e.devices[ieee]
		if d == nil || len(d.pending) == 0 {
			continue
		}
		if !strings.Contains(text, "'"+d.dev.FriendlyName+"'") {
			continue
		}
		// The command whose set named the logged key ("No converter
		// available for 'hue_move' on ..."), else the oldest.
		i := slices.IndexFunc(d.pending, func(p *pendingCmd) bool {
			return slices.ContainsFunc(p.keys, func(k string) bool { return strings.Contains(text, "'"+k+"'") })
		})
		i = max(i, 0)
		p := d.pending[i]
		e.setPending(d, slices.Delete(d.pending, i, i+1))
		e.respond(r, d.id, p.id, "error", text, now)
		e.publishError(r, d.topicBase+"error", "COMMAND_ERROR", text, "error", now)
		return
	}
}

// handleGet asks Zigbee2MQTT to read properties and republishes state.
func (e *Engine) handleGet(r *Result, deviceID string, msg Message, now time.Time) {
	if len(bytes.TrimSpace(msg.Payload)) == 0 {
		return // a clear of the topic, as on cmd
	}
	if msg.Retain {
		r.Diagnostics = append(r.Diagnostics, Diagnostic{Level: "warn", Msg: "ignored a retained get", Topic: msg.Topic})
		return
	}
	d := e.byID[deviceID]
	if d == nil || !d.enabled {
		e.publishError(r, e.prefix+"devices/"+deviceID+"/error", "UNKNOWN_DEVICE", fmt.Sprintf("no device %q in this instance", deviceID), "error", now)
		return
	}
	var filter map[string]bool
	if props := gjson.GetBytes(msg.Payload, "properties"); props.IsArray() {
		filter = map[string]bool{}
		props.ForEach(func(_, v gjson.Result) bool {
			filter[v.String()] = true
			return true
		})
	}
	get := []byte("{}")
	for _, b := range d.plan.Rules {
		top, _, _ := strings.Cut(b.To, ".")
		if !b.Rule.CanRead() || b.Prop == nil || b.Prop.Access&4 == 0 || (filter != nil && !filter[top]) {
			continue
		}
		get, _ = sjson.SetRawBytes(get, gjson.Escape(b.Prop.Property), []byte(`""`))
	}
	if string(get) != "{}" {
		if topic, err := e.z2mTopic(d.dev.FriendlyName, "get"); err != nil {
			e.publishError(r, d.topicBase+"error", "COMMAND_ERROR", fmt.Sprintf("get for %s refused: %v", d.id, err), "error", now)
		} else {
			r.Publish = append(r.Publish, Message{Topic: topic, Payload: get, QoS: e.cfg.QoS})
		}
	}
	e.publishState(r, d, now, filter, false)
}

// handleGroupCommand sends a group command to the Zigbee2MQTT group with
// that id, and fans it out to the members of an instance-JSON group.
func (e *Engine) handleGroupCommand(r *Result, groupID string, msg Message, now time.Time) {
	c, ok := e.parseCommand(r, "group_"+groupID, msg, now)
	if !ok {
		return
	}
	found := false
	if g := e.groups[groupID]; g != nil {
		found = true
		var member *device
		for _, ieee := range g.members {
			if d := e.devices[ieee]; d != nil {
				member = d
				break
			}
		}
		var set []byte
		var err error
		if member != nil {
			set, err = e.buildSet(member, c.values)
		} else {
			set = []byte(c.values.Raw)
		}
		topic, terr := e.z2mTopic(g.name, "set")
		switch {
		case err != nil:
			e.publishError(r, e.prefix+"error", "COMMAND_ERROR", fmt.Sprintf("group %s: %v", groupID, err), "error", now)
		case terr != nil:
			e.publishError(r, e.prefix+"error", "COMMAND_ERROR", fmt.Sprintf("group %s refused: %v", groupID, terr), "error", now)
		default:
			r.Publish = append(r.Publish, Message{Topic: topic, Payload: set, QoS: e.cfg.QoS})
		}
	}
	for _, g := range e.cfg.Groups {
		if g.ID != groupID {
			continue
		}
		found = true
		for _, id := range g.Devices {
			d := e.byID[id]
			if d == nil || !d.enabled {
				topic := e.prefix + "devices/" + id + "/error"
				if !validLevel(id) {
					topic = e.prefix + "error"
				}
				e.publishError(r, topic, "UNKNOWN_DEVICE", fmt.Sprintf("group %s member %q is not a device of this instance", groupID, id), "warning", now)
				continue
			}
			topic, err := e.z2mTopic(d.dev.FriendlyName, "set")
			if err != nil {
				e.publishError(r, d.topicBase+"error", "COMMAND_ERROR", fmt.Sprintf("group %s: command for %s refused: %v", groupID, d.id, err), "error", now)
				continue
			}
			set, err := e.buildSet(d, c.values)
			if err != nil {
				e.publishError(r, d.topicBase+"error", "COMMAND_ERROR", err.Error(), "error", now)
				continue
			}
			r.Publish = append(r.Publish, Message{Topic: topic, Payload: set, QoS: e.cfg.QoS})
		}
	}
	if !found {
		e.publishError(r, e.prefix+"error", "UNKNOWN_GROUP", fmt.Sprintf("no group %q: neither a zigbee2mqtt group id nor an instance group", groupID), "error", now)
	}
}

// handleBridgeCommand serves the pseudo-device "bridge": permit_join,
// restart, remove and rename, through Zigbee2MQTT bridge requests.
func (e *Engine) handleBridgeCommand(r *Result, c parsedCmd, now time.Time) {
	v := c.values
	e.seq++
	tx := c.id
	if tx == "" {
		tx = "t" + strconv.Itoa(e.seq)
	}
	var topic string
	var payload []byte
	switch {
	case v.Get("permit_join").Exists():
		pj := v.Get("permit_join")
		secs := 254
		switch {
		case pj.Type == gjson.False:
			secs = 0
		case pj.Type == gjson.Number:
			secs = int(math.Max(0, math.Min(254, pj.Num)))
		}
		topic = "bridge/request/permit_join"
		payload = []byte(fmt.Sprintf(`{"time":%d,"transaction":%s}`, secs, jsonString(tx)))
	case v.Get("restart").Exists():
		topic = "bridge/request/restart"
		payload = []byte(`{"transaction":` + jsonString(tx) + `}`)
	case v.Get("remove").Exists():
		d := e.deviceRef(v.Get("remove").String())
		if d == nil {
			e.respond(r, "bridge", c.id, "error", "unknown device "+v.Get("remove").String(), now)
			return
		}
		topic = "bridge/request/device/remove"
		payload = []byte(fmt.Sprintf(`{"id":%s,"force":%t,"transaction":%s}`, jsonString(d.dev.IEEE), v.Get("force").Bool(), jsonString(tx)))
	case v.Get("rename").Exists():
		ref := v.Get("rename.device_id").String()
		to := v.Get("rename.friendly_name").String()
		d := e.deviceRef(ref)
		if d == nil || to == "" {
			e.respond(r, "bridge", c.id, "error", "rename needs {device_id, friendly_name} of a known device", now)
			return
		}
		topic = "bridge/request/device/rename"
		payload = []byte(fmt.Sprintf(`{"from":%s,"to":%s,"transaction":%s}`, jsonString(d.dev.IEEE), jsonString(to), jsonString(tx)))
	default:
		e.respond(r, "bridge", c.id, "error", "bridge accepts permit_join, restart, remove or rename", now)
		return
	}
	r.Publish = append(r.Publish, Message{Topic: e.z2mPrefix + topic, Payload: payload, QoS: e.cfg.QoS})
	if c.id != "" {
		timeout := c.timeout
		if timeout == 0 {
			timeout = e.cfg.CommandTimeout
		}
		e.bridgeCmds[tx] = bridgeCmd{cmdID: c.id, deadline: now.Add(timeout)}
	}
}

// deviceRef finds a device by IoT2MQTT id, IEEE address or friendly name.
func (e *Engine) deviceRef(ref string) *device {
	if d := e.byID[ref]; d != nil {
		return d
	}
	if d := e.devices[strings.ToLower(ref)]; d != nil {
		return d
	}
	return e.byName[ref]
}

// handleBridgeResponse answers bridge commands from bridge/response/*.
func (e *Engine) handleBridgeResponse(r *Result, _ string, msg Message, now time.Time) {
	tx := gjson.GetBytes(msg.Payload, "transaction").String()
	bc, ok := e.bridgeCmds[tx]
	if !ok {
		return
	}
	delete(e.bridgeCmds, tx)
	if gjson.GetBytes(msg.Payload, "status").String() == "ok" {
		e.respond(r, "bridge", bc.cmdID, "success", "", now)
		return
	}
	e.respond(r, "bridge", bc.cmdID, "error", gjson.GetBytes(msg.Payload, "error").String(), now)
}
