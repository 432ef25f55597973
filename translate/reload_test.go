package translate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
	"github.com/iot2mqtt/zigbee2mqtt-translator/mappings"
	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
)

// compileWith compiles the generic layer, the built-in pack and extra
// custom files.
func compileWith(t testing.TB, custom ...string) *mapping.Set {
	t.Helper()
	files, err := mapping.LoadFS(mappings.Files, "*.yaml", mapping.LayerPack, "mappings")
	if err != nil {
		t.Fatal(err)
	}
	files = append([]mapping.File{mapping.GenericFile()}, files...)
	for i, c := range custom {
		files = append(files, mapping.File{Name: "custom" + string(rune('a'+i)) + ".yaml", Data: []byte(c), Layer: mapping.LayerCustom})
	}
	set, err := mapping.Compile(files)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// After new rules rename an output, the device's last state is translated
// again at once: the envelope carries the new key and not the old one, and
// the old key's retained state/{key} topic is cleared.
func TestEngine_SetRulesClearsKeysTheRulesNoLongerProduce(t *testing.T) {
	e := newEngine(t, translate.Config{StateKeyTopics: true})
	r := e.Handle(translate.Message{Topic: "zigbee2mqtt/living room/lamp", Payload: []byte(`{"state":"ON","linkquality":120}`)}, t0)
	if got := string(find(t, r, lamp+"state").Payload); !strings.Contains(got, `"link_quality":120`) {
		t.Fatalf("before the reload the envelope is %s, want link_quality", got)
	}
	find(t, r, lamp+"state/link_quality")

	renamed := compileWith(t, `blocks:
  - name: lq
    rules:
      - from: linkquality
        to: signal
`)
	r = e.SetRules(renamed, t0.Add(time.Second))
	env := string(find(t, r, lamp+"state").Payload)
	if !strings.Contains(env, `"signal":120`) || strings.Contains(env, "link_quality") {
		t.Errorf("after the reload the envelope is %s, want signal and no link_quality", env)
	}
	clear := find(t, r, lamp+"state/link_quality")
	if len(clear.Payload) != 0 || !clear.Retain {
		t.Errorf("state/link_quality after the reload: %q retain=%v, want an empty retained payload (a clear)", clear.Payload, clear.Retain)
	}
	if got := string(find(t, r, lamp+"state/signal").Payload); got != "120" {
		t.Errorf("state/signal = %q, want 120", got)
	}

	// The same rules again change nothing, so nothing is published.
	if r := e.SetRules(renamed, t0.Add(2*time.Second)); len(r.Publish) != 0 {
		t.Errorf("reloading unchanged rules published %d messages", len(r.Publish))
	}
	// No event fires when the state is translated again.
	for _, m := range r.Publish {
		if strings.HasSuffix(m.Topic, "/events") {
			t.Errorf("reload published an event: %s", m.Payload)
		}
	}
}

// A command value the device's expose does not list is answered error at
// once, naming the allowed values, and nothing is sent to Zigbee2MQTT.
func TestEngine_CommandOutsideTheExposeValuesIsRefused(t *testing.T) {
	tests := []struct {
		name, values, wantErr string
		sent                  bool
	}{
		{"listed", `{"power":"toggle"}`, "", true},
		{"not listed", `{"power":"blink"}`, `power: \"blink\" is not one of the device's values for state (ON, OFF, TOGGLE)`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, translate.Config{})
			r := e.Handle(translate.Message{Topic: lamp + "cmd", Payload: []byte(`{"id":"c1","values":` + tt.values + `}`)}, t0)
			sent := false
			for _, m := range r.Publish {
				if m.Topic == "zigbee2mqtt/living room/lamp/set" {
					sent = true
				}
			}
			if sent != tt.sent {
				t.Errorf("sent to zigbee2mqtt = %v, want %v", sent, tt.sent)
			}
			if tt.wantErr == "" {
				return
			}
			resp := string(find(t, r, lamp+"cmd/response").Payload)
			if !strings.Contains(resp, `"status":"error"`) || !strings.Contains(resp, tt.wantErr) {
				t.Errorf("response %s, want error %q", resp, tt.wantErr)
			}
		})
	}
}
