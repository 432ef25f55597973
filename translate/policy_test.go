package translate_test

import (
	"os"
	"strings"
	"testing"

	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
)

// TestEngine_MissingAndNullPolicies drives each policy with a payload where
// the key is absent and one where it is null.
func TestEngine_MissingAndNullPolicies(t *testing.T) {
	cases := []struct {
		rule               string
		absent, null       string // resulting state fragment, or "-" for nothing
		absentErr, nullErr bool
	}{
		{`{from: level, to: out}`, "-", `"out":null`, false, false},
		{`{from: level, to: out, missing: null, null: skip}`, `"out":null`, "-", false, false},
		{`{from: level, to: out, missing: default, null: default, default: 7}`, `"out":7`, `"out":7`, false, false},
		{`{from: level, to: out, missing: error, null: error}`, "-", "-", true, true},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			pack := mapping.File{Name: "p.yaml", Layer: mapping.LayerPack, Data: []byte("blocks:\n  - name: p\n    unmatched: drop\n    rules:\n      - " + tc.rule + "\n")}
			set, err := mapping.Compile([]mapping.File{mapping.GenericFile(), pack})
			if err != nil {
				t.Fatal(err)
			}
			devices, _ := os.ReadFile("testdata/light_devices.json")
			for _, step := range []struct {
				payload, want string
				wantErr       bool
			}{{`{"other":1}`, tc.absent, tc.absentErr}, {`{"level":null}`, tc.null, tc.nullErr}} {
				// A fresh engine per payload: merged state must not carry over.
				e := translate.New(translate.Config{BaseTopic: "IoT2mqtt", InstanceID: "zb", Z2MBaseTopic: "zigbee2mqtt", QoS: 1, RetainState: true}, set)
				e.Handle(translate.Message{Topic: "zigbee2mqtt/bridge/devices", Payload: devices}, t0)
				r := e.Handle(translate.Message{Topic: "zigbee2mqtt/living room/lamp", Payload: []byte(step.payload)}, t0)
				st := string(find(t, r, lamp+"state").Payload)
				if step.want == "-" && strings.Contains(st, `"out"`) || step.want != "-" && !strings.Contains(st, step.want) {
					t.Errorf("%s: state = %s, want %s", step.payload, st, step.want)
				}
				gotErr := false
				for _, m := range r.Publish {
					if m.Topic == lamp+"error" && strings.Contains(string(m.Payload), "MAPPING_ERROR") {
						gotErr = true
					}
				}
				if gotErr != step.wantErr {
					t.Errorf("%s: MAPPING_ERROR published = %v, want %v", step.payload, gotErr, step.wantErr)
				}
			}
		})
	}
}
