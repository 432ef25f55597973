package conformance

import (
	"testing"

	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/ruleset"
)

// The devices named in the translation-fidelity report, each both ways: the
// Zigbee2MQTT property reaches the state key, and a command on that key
// sets the property.
func TestCatalog_NamedExamples(t *testing.T) {
	cat := loadCatalog(t)
	loaded, err := ruleset.Load(ruleset.Sources{Dir: t.TempDir() + "/none"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		model, property, key string
	}{
		{"4058075824010", "state", "power"}, // a light with metering
		{"4058075824010", "power", "power_w"},
		{"S4DM-0A101WWL", "state", "power"},
		{"S4DM-0A101WWL", "power", "power_w"},
		{"TRV601", "system_mode", "mode"}, // a thermostat with its own mode
		{"TRV601", "mode", "z2m_mode"},
		{"SH4-ZB", "online", "z2m_online"},       // a property named like the availability key
		{"WXKG16LM", "click_mode", "click_mode"}, // a setting beside click events
		{"ZNQBKG40LM", "click_mode", "click_mode"},
		{"CL-L02D", "color_rgb", "rgb_rgb"}, // multi-colour composites
		{"YRD226HA2619", "state", "locked"}, // one lock key both ways
	}
	for _, tt := range tests {
		t.Run(tt.model+"/"+tt.property, func(t *testing.T) {
			i := -1
			for j, d := range cat.Definitions {
				if d.Model == tt.model {
					i = j
				}
			}
			if i < 0 {
				t.Fatalf("no definition %s in %s", tt.model, definitionsFile)
			}
			b := newBatch(t, loaded.Set, cat, i, i+1)
			cd := b.devices[0]
			plan := b.set.Plan(&cd.dev)
			p := cd.dev.Property(tt.property)
			if p == nil {
				t.Fatalf("%s exposes no %s", tt.model, tt.property)
			}
			if got := stateKey(plan, p); got != tt.key {
				t.Errorf("%s is read as %q, want %q", tt.property, got, tt.key)
			}
			// check publishes a state payload and asserts the key is in the
			// envelope, then commands it and asserts the set payload.
			if failures, _, _ := b.check(cd); len(failures) > 0 {
				t.Errorf("%+v", failures)
			}
		})
	}
}
