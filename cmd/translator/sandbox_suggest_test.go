package main

import (
	"os"
	"strings"
	"testing"

	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/ruleset"
	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
	"github.com/tidwall/gjson"
)

// The sandbox suggests a command the device can take under the loaded
// rules: a toggle for a switchable device, else a settable value in range.
func TestSuggestCommand(t *testing.T) {
	data, err := os.ReadFile("../../test/catalog/devices.json")
	if err != nil {
		t.Fatal(err)
	}
	byModel := map[string]mapping.Device{}
	gjson.ParseBytes(data).ForEach(func(_, v gjson.Result) bool {
		d := mapping.ParseDevice(v)
		byModel[d.Model] = d
		return true
	})
	loaded, err := ruleset.Load(ruleset.Sources{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		models []string
		want   string // substring of the values
	}{
		{[]string{"LED1545G12"}, `{"power":"toggle"}`},
		{[]string{"SNZB-02", "TS0601_thermostat"}, `{"window_detection":"toggle"}`},
		{[]string{"E1757"}, `{"position":50}`},
		{[]string{"SNZB-02"}, ""},
	}
	for _, tt := range tests {
		var devs []mapping.Device
		for _, m := range tt.models {
			d, ok := byModel[m]
			if !ok {
				t.Fatalf("no %s in the catalog", m)
			}
			devs = append(devs, d)
		}
		_, values, ok := suggestCommand(loaded.Set, devs)
		if tt.want == "" {
			if ok {
				t.Errorf("%v: suggested %s for devices that take no command", tt.models, values)
			}
			continue
		}
		if !ok || !strings.Contains(values, tt.want) {
			t.Errorf("%v: suggested %q (ok=%v), want %s", tt.models, values, ok, tt.want)
		}
	}
}
