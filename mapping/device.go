package mapping

import (
	"strings"

	"github.com/tidwall/gjson"
)

// Access bits of a Zigbee2MQTT expose.
const (
	AccessState = 1 // the property appears in published state
	AccessSet   = 2 // the property can be set
	AccessGet   = 4 // the property can be read on request
)

// Device is what selectors see of a Zigbee2MQTT device.
type Device struct {
	IEEE         string
	FriendlyName string
	Model        string
	Vendor       string
	Type         string // Router, EndDevice, Coordinator, GreenPower
	PowerSource  string
	Properties   []Property // read-only: devices with identical exposes share it
	// ExposesKey is the definition's exposes JSON; devices with identical
	// exposes lists have equal keys.
	ExposesKey string
}

// Property is one exposed property, flattened out of the expose tree.
type Property struct {
	Type     string // binary, numeric, enum, text, composite, list
	Parent   string // the specific type it belongs to (light, switch, …), or ""
	Name     string
	Property string // payload key
	Endpoint string
	Access   int
	Unit     string
	Min, Max *float64
	Values   []string // enum values
	ValueOn  any      // binary on value
	ValueOff any      // binary off value
	// Presets are the values a numeric expose names beyond its range (a
	// colour temperature's 65535 "previous").
	Presets []float64
	// Features are the payload keys of a composite's features, e.g. x_rgb
	// and y_rgb of the composite color_rgb.
	Features []string
}

// Writable reports whether the property has the set access bit.
func (p *Property) Writable() bool { return p.Access&AccessSet != 0 }

// Allowed lists the values an enum or binary property takes (a binary
// ON/OFF one also TOGGLE); nil for other types, which list none.
func (p *Property) Allowed() []string {
	switch p.Type {
	case "enum":
		return p.Values
	case "binary":
		allowed := []string{valueKey(p.ValueOn), valueKey(p.ValueOff)}
		if strings.EqualFold(valueKey(p.ValueOn), "ON") {
			allowed = append(allowed, "TOGGLE")
		}
		return allowed
	}
	return nil
}

// Accepts reports whether v is one of Allowed (text compared without
// case), or true when the property lists no values.
func (p *Property) Accepts(v any) bool {
	allowed := p.Allowed()
	return allowed == nil || containsFold(allowed, valueKey(v))
}

var specificTypes = map[string]bool{"light": true, "switch": true, "fan": true, "cover": true, "lock": true, "climate": true}

// ParseExposes flattens a Zigbee2MQTT `definition.exposes` array. Features of
// specific types (light, switch, cover, lock, climate, fan) become their own
// properties; a composite or list is one property holding an object or array.
func ParseExposes(exposes gjson.Result) []Property {
	var out []Property
	exposes.ForEach(func(_, e gjson.Result) bool {
		out = appendExpose(out, e, "")
		return true
	})
	return out
}

func appendExpose(out []Property, e gjson.Result, parent string) []Property {
	typ := e.Get("type").String()
	if specificTypes[typ] {
		e.Get("features").ForEach(func(_, f gjson.Result) bool {
			out = appendExpose(out, f, typ)
			return true
		})
		return out
	}
	prop := e.Get("property").String()
	if prop == "" {
		return out
	}
	p := Property{
		Type:     typ,
		Parent:   parent,
		Name:     e.Get("name").String(),
		Property: prop,
		Endpoint: e.Get("endpoint").String(),
		Access:   int(e.Get("access").Int()),
		Unit:     e.Get("unit").String(),
	}
	if v := e.Get("value_min"); v.Exists() {
		f := v.Float()
		p.Min = &f
	}
	if v := e.Get("value_max"); v.Exists() {
		f := v.Float()
		p.Max = &f
	}
	e.Get("values").ForEach(func(_, v gjson.Result) bool {
		p.Values = append(p.Values, v.String())
		return true
	})
	e.Get("presets.#.value").ForEach(func(_, v gjson.Result) bool {
		if v.Type == gjson.Number {
			p.Presets = append(p.Presets, v.Num)
		}
		return true
	})
	e.Get("features.#.property").ForEach(func(_, f gjson.Result) bool {
		p.Features = append(p.Features, f.String())
		return true
	})
	if v := e.Get("value_on"); v.Exists() {
		p.ValueOn = v.Value()
	}
	if v := e.Get("value_off"); v.Exists() {
		p.ValueOff = v.Value()
	}
	return append(out, p)
}

// Property returns the exposed property with payload key key, or nil.
func (d *Device) Property(key string) *Property {
	for i := range d.Properties {
		if d.Properties[i].Property == key {
			return &d.Properties[i]
		}
	}
	return nil
}

// ParseDevice reads one entry of Zigbee2MQTT's `bridge/devices` array. The
// IEEE address is lower-cased.
func ParseDevice(v gjson.Result) Device {
	var p DeviceParser
	return p.Parse(v)
}

// DeviceParser parses bridge/devices entries like ParseDevice, with private
// copies of every string (so a device does not keep the whole payload
// alive) and one shared, read-only parse of each distinct exposes list: a
// network's devices of one model share it.
type DeviceParser struct {
	exposes map[string]sharedExposes // by exposes JSON
}

type sharedExposes struct {
	key   string // a private copy of the exposes JSON
	props []Property
}

// Parse parses one entry.
func (p *DeviceParser) Parse(v gjson.Result) Device {
	def := v.Get("definition")
	d := Device{
		IEEE:         strings.Clone(strings.ToLower(v.Get("ieee_address").String())),
		FriendlyName: strings.Clone(v.Get("friendly_name").String()),
		Model:        strings.Clone(def.Get("model").String()),
		Vendor:       strings.Clone(def.Get("vendor").String()),
		Type:         strings.Clone(v.Get("type").String()),
		PowerSource:  strings.Clone(v.Get("power_source").String()),
	}
	raw := def.Get("exposes").Raw
	sh, ok := p.exposes[raw]
	if !ok {
		key := strings.Clone(raw)
		sh = sharedExposes{key: key, props: ParseExposes(gjson.Parse(key))}
		if p.exposes == nil {
			p.exposes = map[string]sharedExposes{}
		}
		p.exposes[key] = sh
	}
	d.Properties, d.ExposesKey = sh.props, sh.key
	return d
}

// Retain forgets every exposes list whose key is not in used.
func (p *DeviceParser) Retain(used map[string]bool) {
	for k := range p.exposes {
		if !used[k] {
			delete(p.exposes, k)
		}
	}
}
