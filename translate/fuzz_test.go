package translate_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
	"github.com/iot2mqtt/zigbee2mqtt-translator/mappings"
	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
)

// fuzzDevices is a small network: a colour light, a battery sensor whose
// name contains '/', and a two-gang switch.
const fuzzDevices = `[
 {"ieee_address":"0x00124b0000000001","type":"Coordinator","friendly_name":"Coordinator","definition":null},
 {"ieee_address":"0x000d6ffffe1a2b3c","type":"Router","friendly_name":"living room/lamp","supported":true,"interview_completed":true,"power_source":"Mains (single phase)",
  "definition":{"model":"LED1624G9","vendor":"IKEA","exposes":[
   {"type":"light","features":[
    {"type":"binary","name":"state","property":"state","access":7,"value_on":"ON","value_off":"OFF","value_toggle":"TOGGLE"},
    {"type":"numeric","name":"brightness","property":"brightness","access":7,"value_min":0,"value_max":254},
    {"type":"numeric","name":"color_temp","property":"color_temp","access":7,"unit":"mired","value_min":250,"value_max":454},
    {"type":"composite","name":"color_xy","property":"color","access":7,"features":[
     {"type":"numeric","name":"x","property":"x","access":7},{"type":"numeric","name":"y","property":"y","access":7}]}]},
   {"type":"enum","name":"effect","property":"effect","access":2,"values":["blink","breathe"]},
   {"type":"numeric","name":"linkquality","property":"linkquality","access":1}]}},
 {"ieee_address":"0x00158d0001a2b3c4","type":"EndDevice","friendly_name":"hall/sensor","supported":true,"interview_completed":true,"power_source":"Battery",
  "definition":{"model":"WSDCGQ11LM","vendor":"Aqara","exposes":[
   {"type":"numeric","name":"temperature","property":"temperature","access":5,"unit":"°C"},
   {"type":"numeric","name":"humidity","property":"humidity","access":1,"unit":"%"},
   {"type":"numeric","name":"battery","property":"battery","access":1,"unit":"%"},
   {"type":"enum","name":"action","property":"action","access":1,"values":["single","double"]}]}},
 {"ieee_address":"0xa4c1380000000002","type":"Router","friendly_name":"kitchen switch","supported":true,"interview_completed":true,
  "definition":{"model":"TS0012","vendor":"Tuya","exposes":[
   {"type":"switch","endpoint":"l1","features":[{"type":"binary","name":"state","property":"state_l1","access":7,"value_on":"ON","value_off":"OFF"}]},
   {"type":"switch","endpoint":"l2","features":[{"type":"binary","name":"state","property":"state_l2","access":7,"value_on":"ON","value_off":"OFF"}]}]}}
]`

const fuzzGroups = `[{"id":1,"friendly_name":"downstairs","members":[{"ieee_address":"0x000d6ffffe1a2b3c","endpoint":1}]}]`

const (
	fuzzPrefix = "IoT2mqtt/v1/instances/zb/"
	fuzzLamp   = fuzzPrefix + "devices/0x000d6ffffe1a2b3c/"
)

var (
	fuzzRulesOnce sync.Once
	fuzzRules     *mapping.Set
	fuzzRulesErr  error
)

// rules compiles the generic layer and the shipped pack once.
func rules(tb testing.TB) *mapping.Set {
	tb.Helper()
	fuzzRulesOnce.Do(func() {
		files, err := mapping.LoadFS(mappings.Files, "*.yaml", mapping.LayerPack, "mappings")
		if err != nil {
			fuzzRulesErr = err
			return
		}
		fuzzRules, fuzzRulesErr = mapping.Compile(append([]mapping.File{mapping.GenericFile()}, files...))
	})
	if fuzzRulesErr != nil {
		tb.Fatal(fuzzRulesErr)
	}
	return fuzzRules
}

// fuzzConfig is the engine configuration of the robustness tests: state
// key topics on, an instance group and an override.
func fuzzConfig() translate.Config {
	return translate.Config{
		BaseTopic: "IoT2mqtt", InstanceID: "zb", Z2MBaseTopic: "zigbee2mqtt", QoS: 1,
		RetainState: true, StateKeyTopics: true,
		Groups:    []translate.Group{{ID: "all", Devices: []string{"0x000d6ffffe1a2b3c", "kitchen", "no-such-device"}}},
		Overrides: map[string]translate.Override{"0xa4c1380000000002": {DeviceID: "kitchen", Enabled: true}},
	}
}

// checkPublished fails unless every publication of r has a valid MQTT topic
// name under one of the two base topics and a payload that is empty (a
// retained clear) or JSON; only status, availability and state/{key} topics
// may carry raw text.
func checkPublished(t *testing.T, r translate.Result) {
	t.Helper()
	for _, m := range r.Publish {
		if err := topicProblem(m.Topic); err != "" {
			t.Fatalf("published on an invalid topic %q: %s", clip(m.Topic), err)
		}
		if !strings.HasPrefix(m.Topic, "IoT2mqtt/v1/") && !strings.HasPrefix(m.Topic, "zigbee2mqtt/") {
			t.Fatalf("published outside both base topics: %q", clip(m.Topic))
		}
		if strings.HasPrefix(m.Topic, "IoT2mqtt/") && !strings.HasPrefix(m.Topic, fuzzPrefix) && m.Topic != "IoT2mqtt/v1/global/events" {
			t.Fatalf("published outside the instance prefix: %q", clip(m.Topic))
		}
		if len(m.Payload) == 0 && !m.Retain {
			t.Fatalf("empty payload on %q is not a retained clear", clip(m.Topic))
		}
		if len(m.Payload) == 0 || json.Valid(m.Payload) || rawTextTopic(m.Topic) {
			continue
		}
		t.Fatalf("payload on %q is neither empty nor JSON: %q", clip(m.Topic), clip(string(m.Payload)))
	}
}

// topicProblem says why s is not a valid MQTT topic name, or "".
func topicProblem(s string) string {
	switch {
	case s == "":
		return "empty"
	case len(s) > 65535:
		return fmt.Sprintf("%d bytes long", len(s))
	case !utf8.ValidString(s):
		return "not UTF-8"
	case strings.ContainsAny(s, "+#\x00"):
		return "contains a wildcard or NUL"
	}
	return ""
}

func rawTextTopic(topic string) bool {
	if !strings.HasPrefix(topic, fuzzPrefix) {
		return false
	}
	rest := topic[len(fuzzPrefix):]
	if rest == "status" {
		return true
	}
	parts := strings.Split(rest, "/")
	return len(parts) >= 3 && parts[0] == "devices" && (parts[2] == "availability" && len(parts) == 3 || parts[2] == "state" && len(parts) == 4)
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// fuzzTargets are the topics FuzzHandle delivers its payload on.
var fuzzTargets = []string{
	"zigbee2mqtt/living room/lamp",
	"zigbee2mqtt/bridge/devices",
	"zigbee2mqtt/bridge/groups",
	"zigbee2mqtt/bridge/event",
	"zigbee2mqtt/bridge/logging",
	"zigbee2mqtt/living room/lamp/availability",
	fuzzLamp + "cmd",
	fuzzLamp + "get",
	fuzzPrefix + "groups/1/cmd",
	fuzzPrefix + "groups/all/cmd",
	fuzzPrefix + "devices/bridge/cmd",
	"zigbee2mqtt/bridge/state",
	"zigbee2mqtt/bridge/info",
	"zigbee2mqtt/bridge/response/device/rename",
	fuzzPrefix + "meta/request/explain",
	"zigbee2mqtt/hall/sensor",
	fuzzPrefix + "devices/0x00158d0001a2b3c4/state",
}

// FuzzHandle feeds arbitrary payloads on every kind of topic the engine
// reads, then drives the network (states, commands, gets, explain, the
// clock) and checks every publication with checkPublished.
func FuzzHandle(f *testing.F) {
	seeds := []struct {
		target  string
		payload string
	}{
		{"zigbee2mqtt/living room/lamp", `{"state":"ON","brightness":254,"color_temp":370,"color":{"x":0.7006,"y":0.2993},"linkquality":120}`},
		{"zigbee2mqtt/living room/lamp", `{"state":null,"brightness":"high","color":[1,2],"update":{"state":"idle"}}`},
		{"zigbee2mqtt/living room/lamp", `{"action":"single","action_group":1}`},
		{"zigbee2mqtt/living room/lamp", `not json`},
		{"zigbee2mqtt/bridge/devices", fuzzDevices},
		{"zigbee2mqtt/bridge/devices", `[{"ieee_address":"0x0000000000000009","type":"Router","friendly_name":"a+b/#","definition":{"exposes":[{"type":"binary","property":"state","access":7}]}}]`},
		{"zigbee2mqtt/bridge/devices", `[{"ieee_address":"0x1/+/#","friendly_name":"x"}]`},
		{"zigbee2mqtt/bridge/devices", `{}`},
		{"zigbee2mqtt/bridge/groups", fuzzGroups},
		{"zigbee2mqtt/bridge/groups", `[{"id":"1/#","friendly_name":"g+","members":[]}]`},
		{"zigbee2mqtt/bridge/event", `{"type":"device_joined","data":{"friendly_name":"new","ieee_address":"0x00158d0001a2b3c5"}}`},
		{"zigbee2mqtt/bridge/event", `{"type":"device_interview","data":{"status":"successful","ieee_address":"0x00158d0001a2b3c5/#"}}`},
		{"zigbee2mqtt/bridge/logging", `{"level":"error","message":"Publish 'set' 'state' to 'living room/lamp' failed: 'Error: Timeout'"}`},
		{"zigbee2mqtt/living room/lamp/availability", `online`},
		{"zigbee2mqtt/living room/lamp/availability", `{"state":"offline"}`},
		{fuzzLamp + "cmd", `{"id":"c1","timestamp":"2026-11-24T12:00:00Z","values":{"power":"toggle","brightness":50,"rgb":"#FF0000"}}`},
		{fuzzLamp + "cmd", `{"id":"c2","power":true,"timeout":1}`},
		{fuzzLamp + "cmd", `{"values":[1]}`},
		{fuzzLamp + "get", `{"properties":["power","brightness"]}`},
		{fuzzPrefix + "groups/1/cmd", `{"values":{"power":false}}`},
		{fuzzPrefix + "groups/all/cmd", `{"id":"g1","values":{"power":true}}`},
		{fuzzPrefix + "devices/bridge/cmd", `{"id":"b1","values":{"permit_join":60}}`},
		{fuzzPrefix + "devices/bridge/cmd", `{"id":"b2","values":{"rename":{"device_id":"0x000d6ffffe1a2b3c","friendly_name":"new/name"}}}`},
		{fuzzPrefix + "devices/bridge/cmd", `{"id":"b3","values":{"remove":"kitchen","force":true}}`},
		{"zigbee2mqtt/bridge/state", `{"state":"offline"}`},
		{"zigbee2mqtt/bridge/info", `{"version":"2.1.0","config":{}}`},
		{"zigbee2mqtt/bridge/response/device/rename", `{"status":"ok","transaction":"b2"}`},
		{fuzzPrefix + "meta/request/explain", `{"device_id":"0x000d6ffffe1a2b3c","last":3}`},
		{"zigbee2mqtt/hall/sensor", `{"temperature":21.5,"humidity":40,"battery":90,"action":"double"}`},
		{fuzzPrefix + "devices/0x00158d0001a2b3c4/state", `{"state":{"temperature":20}}`},
		{"zigbee2mqtt/living room/lamp", `{"color":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`},
		{fuzzLamp + "cmd", `{"id":"deep","values":{"power":` + strings.Repeat(`{"a":`, 70) + "1" + strings.Repeat("}", 70) + `}}`},
	}
	for _, s := range seeds {
		f.Add(uint8(targetIndex(s.target)), []byte(s.payload))
	}
	f.Add(uint8(128+targetIndex(fuzzPrefix+"devices/0x00158d0001a2b3c4/state")), []byte(`{"state":{"temperature":20}}`))
	f.Add(uint8(128+targetIndex(fuzzLamp+"cmd")), []byte(`{"id":"retained","values":{"power":true}}`))
	// The low 7 bits of target pick the topic, the high bit sets retain.
	f.Fuzz(func(t *testing.T, target uint8, payload []byte) {
		topic := fuzzTargets[int(target&127)%len(fuzzTargets)]
		driveEngine(t, topic, payload, target&128 != 0)
	})
}

func targetIndex(topic string) int {
	for i, t := range fuzzTargets {
		if t == topic {
			return i
		}
	}
	panic("unknown fuzz target " + topic)
}

// driveEngine starts an engine on the fuzz network, delivers payload on
// topic (retained or not), then exercises every device the engine lists,
// checking every result.
func driveEngine(t *testing.T, topic string, payload []byte, retain bool) {
	t.Helper()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	e := translate.New(fuzzConfig(), rules(t))
	handle := func(topic, payload string) translate.Result {
		r := e.Handle(translate.Message{Topic: topic, Payload: []byte(payload), QoS: 1}, now)
		checkPublished(t, r)
		return r
	}
	handle("zigbee2mqtt/bridge/state", `{"state":"online"}`)
	handle("zigbee2mqtt/bridge/devices", fuzzDevices)
	handle("zigbee2mqtt/bridge/groups", fuzzGroups)

	r := e.Handle(translate.Message{Topic: topic, Payload: payload, QoS: 1, Retain: retain}, now)
	checkPublished(t, r)

	// Whatever the payload did to the device list, every listed device is
	// stated, commanded, read and explained.
	list := e.Handle(translate.Message{Topic: fuzzPrefix + "meta/request/devices_list"}, now)
	checkPublished(t, list)
	var devices []struct {
		DeviceID string `json:"device_id"`
		IEEE     string `json:"ieee_address"`
	}
	for _, m := range list.Publish {
		if m.Topic == fuzzPrefix+"meta/devices_list" {
			if err := json.Unmarshal(m.Payload, &devices); err != nil {
				t.Fatalf("devices_list is not a JSON array of devices: %v", err)
			}
		}
	}
	for i, d := range devices {
		if i == 8 {
			break
		}
		if topicProblem(d.DeviceID) != "" || strings.Contains(d.DeviceID, "/") {
			t.Fatalf("device_id %q is not one topic level", clip(d.DeviceID))
		}
		base := fuzzPrefix + "devices/" + d.DeviceID + "/"
		handle(base+"cmd", `{"id":"f`+fmt.Sprint(i)+`","values":{"power":true,"state":"ON","brightness":10}}`)
		handle(base+"get", `{}`)
		handle(fuzzPrefix+"meta/request/explain", `{"device_id":"`+d.DeviceID+`"}`)
	}
	handle("zigbee2mqtt/living room/lamp", `{"state":"ON","brightness":25}`)
	handle("zigbee2mqtt/bridge/logging", `{"level":"error","message":"Publish 'set' 'state' to 'hall/sensor' failed"}`)
	handle(fuzzPrefix+"groups/1/cmd", `{"values":{"power":true}}`)
	handle(fuzzPrefix+"meta/request/coverage", ``)
	checkPublished(t, e.Tick(now.Add(10*time.Minute)))
	checkPublished(t, e.Republish(now.Add(10*time.Minute)))
}
