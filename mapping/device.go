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
	Properties   []Property
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
}

// Writable reports whether the property has the set access bit.
func (p *Property) Writable() bool { return p.Access&AccessSet != 0 }

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
	def := v.Get("definition")
	return Device{
		IEEE:         strings.ToLower(v.Get("ieee_address").String()),
		FriendlyName: v.Get("friendly_name").String(),
		Model:        def.Get("model").String(),
		Vendor:       def.Get("vendor").String(),
		Type:         v.Get("type").String(),
		PowerSource:  v.Get("power_source").String(),
		Properties:   ParseExposes(def.Get("exposes")),
	}
}
