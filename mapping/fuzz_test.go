package mapping_test

import (
	"testing"

	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
	"github.com/iot2mqtt/zigbee2mqtt-translator/mappings"
)

// FuzzCompile compiles arbitrary YAML as a pack file and as an instance
// layer: errors are fine, panics and hangs are not, and a compiled set must
// plan a device.
func FuzzCompile(f *testing.F) {
	for _, name := range []string{"10-lights.yaml", "20-switches.yaml", "30-sensors.yaml", "40-covers-locks-climate.yaml"} {
		data, err := mappings.Files.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(mapping.GenericFile().Data)
	for _, s := range []string{
		"",
		"blocks: []",
		"- name: bare\n  rules: [{from: a, to: b}]",
		"blocks:\n  - name: x\n    select: {model: [\"TS*\"], ieee: [\"0x00*\"]}\n    rules:\n      - from: temp_x10\n        to: temperature\n        direction: read\n        transform: [{scale: {from: [0, 10], to: [0, 1], precision: 1}}]\n",
		"blocks:\n  - name: m\n    rules:\n      - from: state\n        to: power\n        missing: default\n        default: false\n        transform: [{map: {values: {\"ON\": true, \"OFF\": false}, write: {toggle: TOGGLE}, otherwise: error}}]\n",
		"blocks:\n  - name: c\n    device_id: \"{friendly_name}-{model}\"\n    rules:\n      - from: color\n        to: rgb\n        transform: [{color: {write: hs}}, {rename: {hue: h}}, clamp: {min: 0, max: 1}]\n    events: [action]\n    include: [\"*\"]\n    exclude: [update]\n    unmatched: drop\n",
		"blocks:\n  - name: u\n    rules:\n      - {from: t, to: t, transform: [{unit: {from: \"°F\", to: \"°C\", precision: 1}}, mired_kelvin, {invert: {min: 0, max: 100}}, {round: 1}]}\n",
		"a: &a [*a]",
		"blocks: &b\n  - name: x\n    rules: *b\n",
		"blocks:\n  - name: x\n    rules:\n      - expose: {type: light, name: state, access: [set]}\n        to: \"power{_endpoint}\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, layer := range []mapping.Layer{mapping.LayerPack, mapping.LayerInstance} {
			set, err := mapping.Compile([]mapping.File{mapping.GenericFile(), {Name: "fuzz.yaml", Data: data, Layer: layer}})
			if err != nil {
				if err.Error() == "" {
					t.Fatal("empty error message")
				}
				continue
			}
			d := mapping.Device{IEEE: "0x000d6ffffe1a2b3c", FriendlyName: "living room/lamp", Model: "TS0201", Vendor: "Tuya",
				Properties: []mapping.Property{{Type: "binary", Name: "state", Property: "state", Access: 7}, {Type: "numeric", Name: "brightness", Property: "brightness", Access: 7}}}
			p := set.Plan(&d)
			_ = p.DeviceID(&d)
			for _, b := range p.Rules {
				if b.Rule.CanRead() {
					_, _ = b.Rule.Read.Read(float64(1))
					_, _ = b.Rule.Read.Read("ON")
				}
				if b.Rule.CanWrite() {
					_, _ = b.Rule.Write(true)
					_, _ = b.Rule.Write("#FF0000")
				}
			}
		}
	})
}
