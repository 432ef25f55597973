package translate

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
	"github.com/tidwall/gjson"
)

// explainDepth is how many recent inputs each device keeps for explain.
const explainDepth = 3

// recentInput is one upstream payload kept for meta/request/explain.
type recentInput struct {
	at      time.Time
	payload []byte
}

// remember keeps the payload in the device's ring of recent inputs and notes
// which payload keys were seen, for coverage.
func (d *device) remember(payload []byte, now time.Time) {
	if len(d.recent) < explainDepth {
		d.recent = append(d.recent, recentInput{})
	}
	// The oldest entry falls off; its buffer is reused for the newest.
	reuse := d.recent[len(d.recent)-1].payload
	copy(d.recent[1:], d.recent[:len(d.recent)-1])
	d.recent[0] = recentInput{at: now, payload: append(reuse[:0], payload...)}
}

func (d *device) noteKey(key string) {
	if d.seenKeys == nil {
		d.seenKeys = map[string]bool{}
	}
	if !d.seenKeys[key] && len(d.seenKeys) < maxStateKeys {
		d.seenKeys[key] = true
	}
}

// KeyTrace explains what happened to one payload key.
type KeyTrace struct {
	Key        string            `json:"key"`
	Input      json.RawMessage   `json:"input"`
	Rule       string            `json:"rule,omitempty"`
	Layer      string            `json:"layer,omitempty"`
	Block      string            `json:"block,omitempty"`
	To         string            `json:"to,omitempty"`
	Steps      []json.RawMessage `json:"steps,omitempty"` // value after each transform step
	Output     json.RawMessage   `json:"output,omitempty"`
	Suppressed string            `json:"suppressed,omitempty"` // why nothing was written
}

// InputTrace explains one recent input of a device.
type InputTrace struct {
	Received string          `json:"received"`
	Payload  json.RawMessage `json:"payload"`
	Keys     []KeyTrace      `json:"keys"`
}

// explainInput runs the device's current plan over payload without
// changing any state, recording every decision.
func (e *Engine) explainInput(d *device, payload []byte) []KeyTrace {
	var out []KeyTrace
	plan := d.plan
	gjson.ParseBytes(payload).ForEach(func(k, v gjson.Result) bool {
		key := k.Str
		base := KeyTrace{Key: key, Input: json.RawMessage(v.Raw)}
		switch {
		case plan.Events[key]:
			base.Suppressed = "event: published on the events topic, not in state"
			out = append(out, base)
			return true
		case isEventSibling(plan, &d.dev, key, payload):
			base.Suppressed = "event data: carried in the event of its key"
			out = append(out, base)
			return true
		}
		rules := d.byKey[key]
		if len(rules) == 0 {
			switch {
			case plan.Unmatched != "pass":
				base.Suppressed = "no rule reads this key and unmatched is drop"
			case !plan.KeepKey(key):
				base.Suppressed = "excluded by include/exclude"
			default:
				base.To, base.Output = plan.PassKey(key), json.RawMessage(v.Raw)
				base.Layer = "passthrough"
			}
			out = append(out, base)
			return true
		}
		for _, b := range rules {
			out = append(out, traceRule(plan, b, v, base))
		}
		return true
	})
	for _, b := range d.nested {
		v := gjson.GetBytes(payload, b.From)
		if !v.Exists() {
			continue
		}
		out = append(out, traceRule(plan, b, v, KeyTrace{Key: b.From, Input: json.RawMessage(v.Raw)}))
	}
	return out
}

func traceRule(plan *mapping.Plan, b *mapping.Bound, v gjson.Result, t KeyTrace) KeyTrace {
	r := b.Rule
	t.Rule, t.Layer, t.Block, t.To = r.ID(), r.Block.Layer.String(), r.Block.Name, b.To
	top, _, _ := strings.Cut(b.To, ".")
	if !plan.KeepKey(top) {
		t.Suppressed = "output key excluded by include/exclude"
		return t
	}
	if v.Type == gjson.Null {
		switch r.Null {
		case "skip":
			t.Suppressed = "value is null and the rule's null policy is skip"
		case "error":
			t.Suppressed = "value is null and the rule's null policy is error"
		case "default":
			t.Output = mustJSON(r.Default)
		default:
			t.Output = json.RawMessage("null")
		}
		return t
	}
	if len(r.Read) == 0 {
		t.Output = json.RawMessage(v.Raw)
		return t
	}
	val := v.Value()
	for _, st := range r.Read {
		next, err := st.Read(val)
		if errors.Is(err, mapping.ErrDrop) {
			t.Suppressed = st.Name() + ": value dropped (otherwise: drop)"
			return t
		}
		if err != nil {
			t.Suppressed = fmt.Sprintf("%s failed: %v", st.Name(), err)
			return t
		}
		val = next
		t.Steps = append(t.Steps, appendJSON(nil, val))
	}
	t.Output = t.Steps[len(t.Steps)-1]
	return t
}

// publishExplain answers meta/request/explain {device_id, last?} on
// meta/explain with the device's recent inputs, each key's rule,
// intermediate values, output, or the reason nothing was written.
func (e *Engine) publishExplain(r *Result, payload []byte, now time.Time) {
	id := gjson.GetBytes(payload, "device_id").String()
	d := e.deviceRef(id)
	if d == nil {
		e.publishError(r, e.prefix+"error", "UNKNOWN_DEVICE", fmt.Sprintf("explain: no device %q", id), "warning", now)
		return
	}
	last := int(gjson.GetBytes(payload, "last").Int())
	if last <= 0 || last > len(d.recent) {
		last = len(d.recent)
	}
	inputs := make([]InputTrace, 0, last)
	for _, in := range d.recent[:last] {
		inputs = append(inputs, InputTrace{Received: Timestamp(in.at), Payload: json.RawMessage(in.payload), Keys: e.explainInput(d, in.payload)})
	}
	body, _ := json.Marshal(map[string]any{
		"timestamp": Timestamp(now), "device_id": d.id, "friendly_name": d.dev.FriendlyName,
		"note": "traced with the rules loaded now, newest input first", "inputs": inputs,
	})
	r.Publish = append(r.Publish, Message{Topic: e.prefix + "meta/explain", Payload: body, QoS: e.cfg.QoS})
}

// PropertyCoverage says how one exposed property reaches IoT2MQTT.
type PropertyCoverage struct {
	Property string `json:"property"`
	Status   string `json:"status"` // mapped, generic, dropped, command-only
	To       string `json:"to,omitempty"`
	Rule     string `json:"rule,omitempty"`
	Layer    string `json:"layer,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// Command names the IoT2MQTT key that sets the property in a command's
	// values; empty when it takes no commands (not settable, or no rule
	// writes it).
	Command string `json:"command,omitempty"`
}

// DeviceCoverage is the coverage report of one device.
type DeviceCoverage struct {
	DeviceID     string             `json:"device_id"`
	FriendlyName string             `json:"friendly_name"`
	Model        string             `json:"model"`
	Properties   []PropertyCoverage `json:"properties"`
	// SeenNotExposed are payload keys that arrived but no expose declares.
	SeenNotExposed []string `json:"seen_not_exposed"`
}

// Coverage reports, per device, which exposed properties are mapped (by
// which rule and layer), which pass through generically, which are dropped
// and why, and which payload keys were seen but never exposed.
func (e *Engine) Coverage() []DeviceCoverage {
	var out []DeviceCoverage
	for _, ieee := range e.order {
		d := e.devices[ieee]
		if d == nil {
			continue
		}
		out = append(out, deviceCoverage(d))
	}
	return out
}

func deviceCoverage(d *device) DeviceCoverage {
	c := DeviceCoverage{DeviceID: d.id, FriendlyName: d.dev.FriendlyName, Model: d.model, SeenNotExposed: []string{}}
	exposed := map[string]bool{}
	for _, p := range d.dev.Properties {
		exposed[p.Property] = true
		pc := PropertyCoverage{Property: p.Property}
		var reader, writer *mapping.Bound
		for _, b := range d.plan.Rules {
			if b.From != p.Property {
				continue
			}
			if b.Rule.CanRead() {
				reader = b
			} else {
				writer = b
			}
			if b.Writable && b.Rule.CanWrite() && pc.Command == "" {
				pc.Command = b.To
			}
		}
		if pc.Command == "" && p.Writable() && d.plan.Unmatched == "pass" && reader == nil && writer == nil {
			pc.Command = p.Property // passed through under its own name
		}
		switch {
		case d.plan.Events[p.Property]:
			pc.Status, pc.Reason = "event", "published on the events topic"
		case reader == nil && writer != nil:
			pc.Status, pc.To, pc.Rule, pc.Layer = "command-only", writer.To, writer.Rule.ID(), writer.Rule.Block.Layer.String()
		case reader == nil:
			if d.plan.Unmatched == "pass" && d.plan.KeepKey(p.Property) {
				pc.Status, pc.To, pc.Layer = "generic", d.plan.PassKey(p.Property), "passthrough"
			} else {
				pc.Status, pc.Reason = "dropped", "no rule reads it and unmatched is drop or it is excluded"
			}
		default:
			top, _, _ := strings.Cut(reader.To, ".")
			pc.To, pc.Rule, pc.Layer = reader.To, reader.Rule.ID(), reader.Rule.Block.Layer.String()
			if reader.Renamed != "" {
				pc.Reason = "renamed: " + reader.Renamed
			}
			switch {
			case !d.plan.KeepKey(top):
				pc.Status, pc.Reason = "dropped", "output key "+top+" is excluded by include/exclude"
			case reader.Rule.Block.Layer == mapping.LayerGeneric:
				pc.Status = "generic"
			default:
				pc.Status = "mapped"
			}
		}
		c.Properties = append(c.Properties, pc)
	}
	for k := range d.seenKeys {
		if !exposed[k] {
			c.SeenNotExposed = append(c.SeenNotExposed, k)
		}
	}
	sort.Strings(c.SeenNotExposed)
	return c
}

func (e *Engine) publishCoverage(r *Result, now time.Time) {
	body, _ := json.Marshal(map[string]any{"timestamp": Timestamp(now), "devices": e.Coverage()})
	r.Publish = append(r.Publish, Message{Topic: e.prefix + "meta/coverage", Payload: body, QoS: e.cfg.QoS})
}
