package mapping_test

import (
	"strings"
	"testing"

	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
)

// soilSensor has a settable enum and a read-only numeric.
var soilSensor = mapping.Device{IEEE: "0x01", FriendlyName: "garden/soil", Model: "TS0601_soil", ExposesKey: "soil",
	Properties: []mapping.Property{
		{Type: "enum", Name: "temperature_unit", Property: "temperature_unit", Access: mapping.AccessState | mapping.AccessSet, Values: []string{"celsius", "fahrenheit"}},
		{Type: "numeric", Name: "soil_moisture", Property: "soil_moisture", Access: mapping.AccessState, Unit: "%"},
	}}

// Check names each problem once, at the line of the step that causes it.
func TestCheck_Findings(t *testing.T) {
	rule := func(transform string) string {
		return "blocks:\n  - name: soil\n    select: {model: [TS0601_soil]}\n    rules:\n      - from: temperature_unit\n        to: unit\n        transform: [" + transform + "]\n"
	}
	tests := []struct {
		name, file string
		want       []string // findings of this file, in order
	}{
		{"a label the expose lacks", rule(`{map: {values: {celsius: C, farenheit: F}, otherwise: error}}`),
			[]string{`c.yaml:7:27: error: garden/soil (TS0601_soil) "temperature_unit": map label "farenheit" is not one of the expose's values (celsius, fahrenheit)`}},
		{"a command-only value the expose lacks", rule(`{map: {values: {celsius: C, fahrenheit: F}, write: {K: kelvin}, otherwise: error}}`),
			[]string{`c.yaml:7:27: error: garden/soil (TS0601_soil) "temperature_unit": command value "kelvin" is not one of the expose's values (celsius, fahrenheit)`}},
		{"no otherwise on a writable enum", rule(`{map: {celsius: C, fahrenheit: F}}`),
			[]string{`c.yaml:7:27: warning: garden/soil (TS0601_soil) "temperature_unit": the map has no ` + "`otherwise`"}},
		{"a fitting rule", rule(`{map: {values: {celsius: C, fahrenheit: F}, otherwise: error}}`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := mapping.Compile([]mapping.File{mapping.GenericFile(), {Name: "c.yaml", Data: []byte(tt.file), Layer: mapping.LayerCustom}})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range mapping.Check(set, []mapping.Device{soilSensor}) {
				if f.File == "c.yaml" {
					got = append(got, f.String())
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("findings:\n%s\nwant %d:\n%s", strings.Join(got, "\n"), len(tt.want), strings.Join(tt.want, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("finding %d:\n%s\nwant it to start with\n%s", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// The info finding for an expose reached only through the generic layer
// is not given for a key the device's block excludes.
func TestCheck_InfoRespectsExclude(t *testing.T) {
	for _, tt := range []struct {
		name, file string
		want       bool
	}{
		{"kept", "blocks:\n  - name: soil\n    select: {model: [TS0601_soil]}\n    rules: []\n", true},
		{"excluded", "blocks:\n  - name: soil\n    select: {model: [TS0601_soil]}\n    exclude: [soil_moisture]\n    rules: []\n", false},
	} {
		set, err := mapping.Compile([]mapping.File{mapping.GenericFile(), {Name: "c.yaml", Data: []byte(tt.file), Layer: mapping.LayerCustom}})
		if err != nil {
			t.Fatal(err)
		}
		got := false
		for _, f := range mapping.Check(set, []mapping.Device{soilSensor}) {
			got = got || (f.Level == "info" && strings.Contains(f.Msg, `"soil_moisture"`))
		}
		if got != tt.want {
			t.Errorf("%s: info about soil_moisture = %v, want %v", tt.name, got, tt.want)
		}
	}
}
