package translate_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
)

const injIEEE = "0x00158d0001a2b3c4"

// jsonText quotes s as a JSON string, keeping invalid UTF-8 bytes as they
// are (json.Marshal would replace them).
func jsonText(s string) string {
	if !utf8.ValidString(s) {
		return `"` + s + `"`
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// lightJSON is a bridge/devices entry for a dimmable light.
func lightJSON(ieee, name, model string) string {
	n, m := jsonText(name), jsonText(model)
	return `{"ieee_address":"` + ieee + `","type":"Router","friendly_name":` + n + `,"supported":true,"interview_completed":true,
	 "definition":{"model":` + m + `,"vendor":"IKEA","exposes":[{"type":"light","features":[
	  {"type":"binary","name":"state","property":"state","access":7,"value_on":"ON","value_off":"OFF"},
	  {"type":"numeric","name":"brightness","property":"brightness","access":7,"value_min":0,"value_max":254}]},
	  {"type":"enum","name":"action","property":"action","access":1,"values":["single"]}]}}`
}

// TestTopicInjection_FriendlyNames: whatever a Zigbee2MQTT friendly name
// holds, IoT2MQTT topics use the IEEE-based device id and never the name,
// and a command goes to exactly `zigbee2mqtt/<name>/set` or, when the name
// cannot be part of a topic name, is refused with COMMAND_ERROR.
func TestTopicInjection_FriendlyNames(t *testing.T) {
	cases := []struct {
		name      string
		friendly  string
		refused   string // "" when the command must be sent
		groupName string
	}{
		{name: "slashes", friendly: "ground floor/living room/lamp"},
		{name: "leading and trailing slash", friendly: "/lamp/"},
		{name: "plus", friendly: "lamp+1", refused: "wildcard"},
		{name: "hash", friendly: "lamp #2", refused: "wildcard"},
		{name: "wildcard levels", friendly: "a/+/#", refused: "wildcard"},
		{name: "spaces", friendly: "  living room lamp  "},
		{name: "unicode", friendly: "Wohnzimmer/Lämpchen 💡 ランプ"},
		{name: "500 characters", friendly: strings.Repeat("lamp/", 100)},
		{name: "NUL", friendly: "lamp\x00/#", refused: "wildcard"},
		{name: "only NUL", friendly: "lamp\x00", refused: "NUL"},
		{name: "invalid UTF-8", friendly: "lamp\xff", refused: "UTF-8"},
		{name: "empty", friendly: "", refused: "empty"},
		{name: "too long for a topic", friendly: strings.Repeat("x", 70000), refused: "too long"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
			cfg := fuzzConfig()
			cfg.Groups = []translate.Group{{ID: "fan", Devices: []string{injIEEE}}}
			e := translate.New(cfg, rules(t))
			var all []translate.Message
			handle := func(topic, payload string) translate.Result {
				t.Helper()
				r := e.Handle(translate.Message{Topic: topic, Payload: []byte(payload), QoS: 1}, now)
				checkPublished(t, r)
				all = append(all, r.Publish...)
				return r
			}
			groupName := jsonText(tc.friendly + " group")
			groupRefused := tc.refused != "" && tc.friendly != "" // " group" is a fine name
			handle("zigbee2mqtt/bridge/devices", "["+lightJSON(injIEEE, tc.friendly, "LED1545G12")+"]")
			handle("zigbee2mqtt/bridge/groups", `[{"id":7,"friendly_name":`+groupName+`,"members":[{"ieee_address":"`+injIEEE+`"}]}]`)
			handle("zigbee2mqtt/bridge/event", `{"type":"device_announce","data":{"ieee_address":"`+injIEEE+`"}}`)
			if !strings.ContainsAny(tc.friendly, "+#\x00") && len(tc.friendly) < 65000 {
				handle("zigbee2mqtt/"+tc.friendly, `{"state":"ON","brightness":254,"action":"single"}`)
				handle("zigbee2mqtt/"+tc.friendly+"/availability", `online`)
			}
			base := fuzzPrefix + "devices/" + injIEEE + "/"
			cmd := handle(base+"cmd", `{"id":"c1","values":{"power":true}}`)
			get := handle(base+"get", `{}`)
			group := handle(fuzzPrefix+"groups/7/cmd", `{"values":{"power":false}}`)
			fan := handle(fuzzPrefix+"groups/fan/cmd", `{"values":{"power":false}}`)

			for _, m := range all {
				if strings.HasPrefix(m.Topic, "IoT2mqtt/") && len(tc.friendly) > 2 && strings.Contains(m.Topic, tc.friendly) {
					t.Errorf("IoT2MQTT topic %q contains the friendly name", clip(m.Topic))
				}
			}
			wantSet := "zigbee2mqtt/" + tc.friendly + "/set"
			wantGet := "zigbee2mqtt/" + tc.friendly + "/get"
			wantGroupSet := "zigbee2mqtt/" + tc.friendly + " group/set"
			for _, c := range []struct {
				what    string
				r       translate.Result
				want    string
				refused bool
			}{{"cmd", cmd, wantSet, tc.refused != ""}, {"get", get, wantGet, tc.refused != ""},
				{"group cmd", group, wantGroupSet, groupRefused}, {"instance group cmd", fan, wantSet, tc.refused != ""}} {
				var got []string
				for _, m := range c.r.Publish {
					if strings.HasPrefix(m.Topic, "zigbee2mqtt/") {
						got = append(got, m.Topic)
					}
				}
				switch {
				case !c.refused && (len(got) != 1 || got[0] != c.want):
					t.Errorf("%s published on %q, want exactly [%q]", c.what, clipAll(got), clip(c.want))
				case c.refused && len(got) != 0:
					t.Errorf("%s published on %q, want it refused", c.what, clipAll(got))
				}
			}
			if tc.refused == "" {
				return
			}
			if got := payloadOn(cmd, base+"error"); !strings.Contains(got, `"COMMAND_ERROR"`) || !strings.Contains(got, tc.refused) {
				t.Errorf("cmd error = %s, want a COMMAND_ERROR naming %q", clip(got), tc.refused)
			}
			if got := payloadOn(cmd, base+"cmd/response"); !strings.Contains(got, `"status":"error"`) || !strings.Contains(got, tc.refused) {
				t.Errorf("cmd/response = %s, want an error naming %q", clip(got), tc.refused)
			}
			if got := payloadOn(get, base+"error"); !strings.Contains(got, `"COMMAND_ERROR"`) {
				t.Errorf("get error = %s, want a COMMAND_ERROR", clip(got))
			}
			if got := payloadOn(group, fuzzPrefix+"error"); groupRefused && !strings.Contains(got, `"COMMAND_ERROR"`) {
				t.Errorf("group error = %s, want a COMMAND_ERROR", clip(got))
			}
		})
	}
}

// TestTopicInjection_DeviceIDs: instance overrides and device_id templates
// that would not be one topic level fall back to the IEEE address; bridge
// entries whose IEEE address is no topic level are ignored.
func TestTopicInjection_DeviceIDs(t *testing.T) {
	cases := []struct {
		name     string
		override string // instance devices[].device_id
		template string // an instance-layer block's device_id
		friendly string
		model    string
		ieee     string
		want     string // device id, "" when the device must be ignored
	}{
		{name: "plain override", override: "hall-lamp", want: "hall-lamp"},
		{name: "override with slash", override: "hall/lamp", want: injIEEE},
		{name: "override with plus", override: "lamp+", want: injIEEE},
		{name: "override with hash", override: "#", want: injIEEE},
		{name: "override with NUL", override: "a\x00b", want: injIEEE},
		{name: "override not UTF-8", override: "a\xffb", want: injIEEE},
		{name: "override too long", override: strings.Repeat("x", 5000), want: injIEEE},
		{name: "friendly name template slugs", template: "{friendly_name}", friendly: "a/+/#/Lamp 1", want: "a-lamp-1"},
		{name: "model template slugs", template: "{model}_{ieee_short}", model: "LED/15+45#", want: "led-15-45_00158d0001a2b3c4"},
		{name: "template yielding nothing", template: "{model}", model: "/+#", want: injIEEE},
		{name: "override wins over template", override: "mine", template: "{friendly_name}", friendly: "x", want: "mine"},
		{name: "ieee with wildcards", ieee: "0x00158d0001a2b3c4/+/#", want: ""},
		{name: "ieee with slash and template", ieee: "0x1/2", template: "{ieee_short}", want: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set := rules(t)
			if tc.template != "" {
				files := []mapping.File{mapping.GenericFile(), {Name: "instance", Layer: mapping.LayerInstance,
					Data: []byte(`[{"name":"ids","device_id":"` + tc.template + `"}]`)}}
				var err error
				if set, err = mapping.Compile(files); err != nil {
					t.Fatal(err)
				}
			}
			ieee := injIEEE
			if tc.ieee != "" {
				ieee = tc.ieee
			}
			cfg := fuzzConfig()
			if tc.override != "" {
				cfg.Overrides = map[string]translate.Override{strings.ToLower(ieee): {DeviceID: tc.override, Enabled: true}}
			}
			e := translate.New(cfg, set)
			friendly := tc.friendly
			if friendly == "" {
				friendly = "lamp"
			}
			model := tc.model
			if model == "" {
				model = "LED1545G12"
			}
			now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
			var pubs []translate.Message
			for _, m := range []translate.Message{
				{Topic: "zigbee2mqtt/bridge/devices", Payload: []byte("[" + lightJSON(ieee, friendly, model) + "]")},
				{Topic: "zigbee2mqtt/bridge/event", Payload: []byte(`{"type":"device_joined","data":{"ieee_address":"` + ieee + `"}}`)},
				{Topic: "zigbee2mqtt/" + friendly, Payload: []byte(`{"state":"ON","action":"single"}`)},
			} {
				r := e.Handle(m, now)
				checkPublished(t, r)
				pubs = append(pubs, r.Publish...)
			}
			var list []struct {
				DeviceID string `json:"device_id"`
			}
			if err := json.Unmarshal([]byte(payloadOn(translate.Result{Publish: pubs}, fuzzPrefix+"meta/devices_list")), &list); err != nil {
				t.Fatalf("devices_list: %v", err)
			}
			got := ""
			if len(list) > 0 {
				got = list[0].DeviceID
			}
			if got != tc.want || len(list) > 1 {
				t.Errorf("device ids = %+v, want [%q]", list, clip(tc.want))
			}
			for _, m := range pubs {
				rest, ok := strings.CutPrefix(m.Topic, fuzzPrefix+"devices/")
				if !ok {
					continue
				}
				if id, _, _ := strings.Cut(rest, "/"); id != tc.want && tc.want != "" {
					t.Errorf("published on %q, want device id %q", clip(m.Topic), clip(tc.want))
				}
			}
		})
	}
}

// payloadOn returns the last payload published on topic, or "".
func payloadOn(r translate.Result, topic string) string {
	got := ""
	for _, m := range r.Publish {
		if m.Topic == topic {
			got = string(m.Payload)
		}
	}
	return got
}

func clipAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = clip(s)
	}
	return out
}
