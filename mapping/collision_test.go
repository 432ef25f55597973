package mapping_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
)

func prop(typ, parent, name, unit string, access int) mapping.Property {
	return mapping.Property{Type: typ, Parent: parent, Name: name, Property: name, Unit: unit, Access: access}
}

const rw = mapping.AccessState | mapping.AccessSet

// Two properties never share a state key: the rule that ranks highest
// keeps the key, the other property moves to its fallback name.
func TestPlan_Collisions(t *testing.T) {
	const pack = `blocks:
  - name: light
    select: {expose: {type: light}}
    rules:
      - expose: {type: light, name: state}
        to: power
  - name: climate
    select: {expose: {type: climate}}
    rules:
      - expose: {type: climate, name: system_mode}
        to: mode
      - expose: {type: climate, name: occupied_heating_setpoint}
        to: target_temp
      - expose: {type: climate, name: current_heating_setpoint}
        to: target_temp
  - name: common
    rules:
      - from: illuminance_lux
        to: illuminance
`
	tests := []struct {
		name  string
		props []mapping.Property
		want  string // from→to of the readable rules, sorted by from
	}{
		{"light with metering: the light's state keeps power",
			[]mapping.Property{prop("binary", "light", "state", "", rw), prop("numeric", "", "power", "W", mapping.AccessState)},
			"illuminance_lux→illuminance power→power_w state→power"},
		{"thermostat with its own mode",
			[]mapping.Property{prop("enum", "climate", "system_mode", "", rw), prop("enum", "", "mode", "", rw)},
			"illuminance_lux→illuminance mode→z2m_mode system_mode→mode"},
		{"two setpoints: the later rule keeps target_temp",
			[]mapping.Property{prop("numeric", "climate", "occupied_heating_setpoint", "°C", rw), prop("numeric", "climate", "current_heating_setpoint", "°C", rw)},
			"current_heating_setpoint→target_temp illuminance_lux→illuminance occupied_heating_setpoint→occupied_heating_setpoint"},
		{"a property named like a reserved key",
			[]mapping.Property{prop("binary", "", "online", "", mapping.AccessState), prop("numeric", "", "last_update", "s", mapping.AccessState)},
			"illuminance_lux→illuminance last_update→last_update_s online→z2m_online"},
		{"an exposed property outranks a payload key the device does not expose",
			[]mapping.Property{prop("numeric", "", "illuminance", "lx", mapping.AccessState)},
			"illuminance_lux→illuminance_lux illuminance→illuminance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := mapping.Compile([]mapping.File{mapping.GenericFile(), {Name: "pack.yaml", Data: []byte(pack), Layer: mapping.LayerPack}})
			if err != nil {
				t.Fatal(err)
			}
			d := mapping.Device{IEEE: "0x01", FriendlyName: "dev", Model: "M", Properties: tt.props}
			var got []string
			for _, b := range set.Plan(&d).Rules {
				if b.Rule.CanRead() {
					got = append(got, fmt.Sprintf("%s→%s", b.From, b.To))
				}
			}
			sort.Strings(got)
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("got  %s\nwant %s", g, tt.want)
			}
		})
	}
}

// check names each collision at the moved rule's file:line:col.
func TestCheck_Collisions(t *testing.T) {
	const custom = "blocks:\n  - name: meter\n    rules:\n      - from: energy\n        to: power\n"
	set, err := mapping.Compile([]mapping.File{mapping.GenericFile(), {Name: "c.yaml", Data: []byte(custom), Layer: mapping.LayerCustom}})
	if err != nil {
		t.Fatal(err)
	}
	d := mapping.Device{IEEE: "0x01", FriendlyName: "plug", Model: "P", Properties: []mapping.Property{
		prop("numeric", "", "power", "W", mapping.AccessState), prop("numeric", "", "energy", "kWh", mapping.AccessState),
	}}
	want := `builtin:generic.yaml:12:9: warning: plug (P): power collides on its target: "power" is energy's (c.yaml:4:9); it is published as "power_w"`
	for _, f := range mapping.Check(set, []mapping.Device{d}) {
		if f.String() == want {
			return
		}
	}
	t.Errorf("no finding %s in %v", want, mapping.Check(set, []mapping.Device{d}))
}
