package translate_test

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
	"github.com/iot2mqtt/zigbee2mqtt-translator/mappings"
	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

const lamp = "IoT2mqtt/v1/instances/zb/devices/0x000d6ffffe1a2b3c/"

func newEngine(tb testing.TB, cfg translate.Config) *translate.Engine {
	tb.Helper()
	set := compileWith(tb)
	if cfg.BaseTopic == "" {
		cfg = translate.Config{BaseTopic: "IoT2mqtt", InstanceID: "zb", Z2MBaseTopic: "zigbee2mqtt", QoS: 1, RetainState: true, StateKeyTopics: cfg.StateKeyTopics}
	}
	e := translate.New(cfg, set)
	devices, err := os.ReadFile("testdata/light_devices.json")
	if err != nil {
		tb.Fatal(err)
	}
	e.Handle(translate.Message{Topic: "zigbee2mqtt/bridge/devices", Payload: devices, Retain: true}, t0)
	return e
}

// find returns the payload published on topic, failing when absent.
func find(t *testing.T, r translate.Result, topic string) translate.Message {
	t.Helper()
	for _, m := range r.Publish {
		if m.Topic == topic {
			return m
		}
	}
	var got []string
	for _, m := range r.Publish {
		got = append(got, m.Topic)
	}
	t.Fatalf("nothing published on %s; got %s", topic, strings.Join(got, ", "))
	return translate.Message{}
}

func TestEngine_PartialPayloadsMerge(t *testing.T) {
	e := newEngine(t, translate.Config{})
	e.Handle(translate.Message{Topic: "zigbee2mqtt/living room/lamp", Payload: []byte(`{"state":"ON","brightness":254}`)}, t0)
	r := e.Handle(translate.Message{Topic: "zigbee2mqtt/living room/lamp", Payload: []byte(`{"color_temp":250}`)}, t0.Add(time.Second))
	got := string(find(t, r, lamp+"state").Payload)
	want := `{"timestamp":"2026-11-24T12:00:01.000000Z","device_id":"0x000d6ffffe1a2b3c","state":{"power":true,"brightness":100,"color_temp":4000,"online":true,"last_update":"2026-11-24T12:00:01.000000Z"}}`
	if got != want {
		t.Errorf("envelope =\n%s\nwant\n%s", got, want)
	}
}

func TestEngine_StateKeyTopicsOnlyOnChange(t *testing.T) {
	e := newEngine(t, translate.Config{StateKeyTopics: true})
	e.Handle(translate.Message{Topic: "zigbee2mqtt/living room/lamp", Payload: []byte(`{"state":"ON","brightness":254}`)}, t0)
	r := e.Handle(translate.Message{Topic: "zigbee2mqtt/living room/lamp", Payload: []byte(`{"state":"ON","brightness":127}`)}, t0)
	var keys []string
	for _, m := range r.Publish {
		if k, ok := strings.CutPrefix(m.Topic, lamp+"state/"); ok {
			keys = append(keys, k+"="+string(m.Payload))
		}
	}
	if got, want := strings.Join(keys, " "), "brightness=50"; got != want {
		t.Errorf("state/{key} publications = %q, want %q", got, want)
	}
}

// Only state/{key} topics, values and clears alike, are last-value
// messages a publisher may supersede; the envelope never is.
func TestEngine_LatestMarksOnlyStateKeyTopics(t *testing.T) {
	e := newEngine(t, translate.Config{StateKeyTopics: true})
	r := e.Handle(translate.Message{Topic: "zigbee2mqtt/living room/lamp", Payload: []byte(`{"state":"ON","brightness":254}`)}, t0)
	devices, _ := os.ReadFile("testdata/light_devices.json")
	removed := strings.Replace(string(devices), "0x000d6ffffe1a2b3c", "0x000d6ffffe999999", 1)
	r2 := e.Handle(translate.Message{Topic: "zigbee2mqtt/bridge/devices", Payload: []byte(removed), Retain: true}, t0)
	keys, clears := 0, 0
	for _, m := range append(r.Publish, r2.Publish...) {
		isKey := strings.HasPrefix(m.Topic, lamp+"state/")
		if m.Latest != isKey {
			t.Errorf("%s (payload %q): Latest = %v, want %v", m.Topic, m.Payload, m.Latest, isKey)
		}
		if isKey && len(m.Payload) == 0 {
			clears++
		} else if isKey {
			keys++
		}
	}
	if keys == 0 || clears == 0 {
		t.Errorf("got %d state/{key} values and %d clears, want some of both", keys, clears)
	}
}

func TestEngine_UnknownDeviceBufferedUntilDeviceList(t *testing.T) {
	files, _ := mapping.LoadFS(mappings.Files, "*.yaml", mapping.LayerPack, "mappings")
	set, _ := mapping.Compile(append([]mapping.File{mapping.GenericFile()}, files...))
	e := translate.New(translate.Config{BaseTopic: "IoT2mqtt", InstanceID: "zb", Z2MBaseTopic: "zigbee2mqtt", QoS: 1, RetainState: true}, set)
	// Retained state can arrive before the retained device list.
	r := e.Handle(translate.Message{Topic: "zigbee2mqtt/living room/lamp", Payload: []byte(`{"state":"ON"}`), Retain: true}, t0)
	if len(r.Publish) != 0 {
		t.Fatalf("published before the device list: %v", r.Publish)
	}
	devices, _ := os.ReadFile("testdata/light_devices.json")
	r = e.Handle(translate.Message{Topic: "zigbee2mqtt/bridge/devices", Payload: devices, Retain: true}, t0)
	if m := find(t, r, lamp+"state"); !strings.Contains(string(m.Payload), `"power":true`) {
		t.Errorf("buffered state not replayed: %s", m.Payload)
	}
}

func TestEngine_ActionBecomesEvent(t *testing.T) {
	e := newEngine(t, translate.Config{})
	r := e.Handle(translate.Message{Topic: "zigbee2mqtt/living room/lamp", Payload: []byte(`{"action":"brightness_move_up","action_rate":195,"brightness":10}`)}, t0)
	ev := find(t, r, lamp+"events")
	if got, want := string(ev.Payload), `{"timestamp":"2026-11-24T12:00:00.000000Z","event":"brightness_move_up","data":{"action":"brightness_move_up","action_rate":195}}`; got != want {
		t.Errorf("event = %s\nwant %s", got, want)
	}
	if ev.Retain {
		t.Error("event is retained")
	}
	g := find(t, r, "IoT2mqtt/v1/global/events")
	if !strings.Contains(string(g.Payload), `"source":"zb_0x000d6ffffe1a2b3c"`) {
		t.Errorf("global event lacks source: %s", g.Payload)
	}
	if st := string(find(t, r, lamp+"state").Payload); strings.Contains(st, "action") {
		t.Errorf("action leaked into state: %s", st)
	}
}

// BenchmarkEngine_LightState is the hot path: one Zigbee2MQTT light state
// message in, the IoT2MQTT envelope out.
func BenchmarkEngine_LightState(b *testing.B) {
	e := newEngine(b, translate.Config{})
	msg := translate.Message{Topic: "zigbee2mqtt/living room/lamp", Payload: []byte(`{"brightness":254,"color_mode":"color_temp","color_temp":370,"linkquality":120,"state":"ON","update":{"installed_version":587814449,"latest_version":587814449,"state":"idle"}}`)}
	var r translate.Result // reused, as the daemon does
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Each message arrives at its own time, as in the daemon.
		e.HandleInto(&r, msg, t0.Add(time.Duration(i)*time.Microsecond))
		if len(r.Publish) != 1 {
			b.Fatalf("published %d messages", len(r.Publish))
		}
	}
}

// BenchmarkEngine_LightStateWithKeyTopics adds the state/{key} topics for
// a value that changes every message.
func BenchmarkEngine_LightStateWithKeyTopics(b *testing.B) {
	e := newEngine(b, translate.Config{StateKeyTopics: true})
	msgs := []translate.Message{
		{Topic: "zigbee2mqtt/living room/lamp", Payload: []byte(`{"brightness":254,"color_temp":370,"linkquality":120,"state":"ON"}`)},
		{Topic: "zigbee2mqtt/living room/lamp", Payload: []byte(`{"brightness":127,"color_temp":370,"linkquality":120,"state":"ON"}`)},
	}
	var r translate.Result // reused, as the daemon does
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.HandleInto(&r, msgs[i%2], t0.Add(time.Duration(i)*time.Microsecond))
	}
}

// Devices of one model share one compiled plan, but a block selected by
// friendly name still applies to its device only.
func TestEngine_SharedPlansKeepPerDeviceSelectors(t *testing.T) {
	files, err := mapping.LoadFS(mappings.Files, "*.yaml", mapping.LayerPack, "mappings")
	if err != nil {
		t.Fatal(err)
	}
	special := mapping.File{Name: "instance.yaml", Layer: mapping.LayerInstance, Data: []byte(`
blocks:
  - name: hall lamp reports link quality as signal
    select:
      friendly_name: ["hall/*"]
    rules:
      - from: linkquality
        to: signal
`)}
	set, err := mapping.Compile(append([]mapping.File{mapping.GenericFile(), special}, files...))
	if err != nil {
		t.Fatal(err)
	}
	e := translate.New(translate.Config{BaseTopic: "IoT2mqtt", InstanceID: "zb", Z2MBaseTopic: "zigbee2mqtt", QoS: 1, RetainState: true}, set)
	devices, _ := os.ReadFile("testdata/light_devices.json")
	var list []map[string]any
	if err := json.Unmarshal(devices, &list); err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for i, name := range []string{"living room/lamp", "kitchen/lamp", "hall/lamp"} {
		d := map[string]any{}
		for k, v := range list[1] {
			d[k] = v
		}
		d["ieee_address"], d["friendly_name"] = fmt.Sprintf("0x000d6ffffe00000%d", i), name
		out = append(out, d)
	}
	b, _ := json.Marshal(out)
	e.Handle(translate.Message{Topic: "zigbee2mqtt/bridge/devices", Payload: b, Retain: true}, t0)
	for i, name := range []string{"living room/lamp", "kitchen/lamp", "hall/lamp"} {
		r := e.Handle(translate.Message{Topic: "zigbee2mqtt/" + name, Payload: []byte(`{"state":"ON","brightness":254,"linkquality":90}`)}, t0)
		st := string(find(t, r, fmt.Sprintf("IoT2mqtt/v1/instances/zb/devices/0x000d6ffffe00000%d/state", i)).Payload)
		hall := name == "hall/lamp"
		if strings.Contains(st, `"signal":90`) != hall || strings.Contains(st, `"link_quality":90`) == hall {
			t.Errorf("%s: state %s; want link quality as signal only for the hall lamp", name, st)
		}
		if !strings.Contains(st, `"power":true`) || !strings.Contains(st, `"brightness":100`) {
			t.Errorf("%s: light rules not applied: %s", name, st)
		}
	}
}

// NextDeadline follows the commands awaiting confirmation: a command adds
// its deadline; its echo, its timeout and the device's removal take it away.
func TestEngine_NextDeadlineFollowsPendingCommands(t *testing.T) {
	cmd := translate.Message{Topic: lamp + "cmd", Payload: []byte(`{"id":"c1","values":{"power":true}}`)}
	tests := []struct {
		name   string
		settle func(e *translate.Engine) // after the command was sent
	}{
		{"confirmed by the echo", func(e *translate.Engine) {
			e.Handle(translate.Message{Topic: "zigbee2mqtt/living room/lamp", Payload: []byte(`{"state":"ON"}`)}, t0.Add(time.Second))
		}},
		{"timed out", func(e *translate.Engine) {
			e.Tick(t0.Add(time.Hour))
		}},
		{"device removed", func(e *translate.Engine) {
			e.Handle(translate.Message{Topic: "zigbee2mqtt/bridge/devices", Payload: []byte(`[]`), Retain: true}, t0.Add(time.Second))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, translate.Config{})
			if dl, ok := e.NextDeadline(); ok {
				t.Fatalf("NextDeadline before any command = %v, want none", dl)
			}
			e.Handle(cmd, t0)
			dl, ok := e.NextDeadline()
			if !ok || !dl.After(t0) {
				t.Fatalf("NextDeadline after a command = %v, %v; want a time after %v", dl, ok, t0)
			}
			tt.settle(e)
			if dl, ok := e.NextDeadline(); ok {
				t.Errorf("NextDeadline = %v, want none", dl)
			}
		})
	}
}

// HandleInto gives what Handle gives, message after message, while one
// Result is reused: nothing of a message's result is left in the next.
func TestEngine_HandleIntoMatchesHandle(t *testing.T) {
	inputs := []translate.Message{
		{Topic: "zigbee2mqtt/living room/lamp", Payload: []byte(`{"state":"ON","brightness":254,"color_temp":370,"linkquality":120}`)},
		{Topic: "zigbee2mqtt/living room/lamp", Payload: []byte(`{"state":"OFF","brightness":127}`)},
		{Topic: "zigbee2mqtt/living\x00room", Payload: []byte(`{}`)}, // a diagnostic only
		{Topic: "IoT2mqtt/v1/instances/zb/meta/request/reload", Payload: nil},
		{Topic: "zigbee2mqtt/living room/lamp", Payload: []byte(`{"state":"ON",`)}, // an error
		{Topic: "IoT2mqtt/v1/instances/zb/devices/0x000d6ffffe1a2b3c/cmd", Payload: []byte(`{"id":"c1","values":{"power":true}}`)},
		{Topic: "zigbee2mqtt/living room/lamp", Payload: []byte(`{"state":"ON"}`)},
	}
	byHandle := newEngine(t, translate.Config{StateKeyTopics: true})
	byInto := newEngine(t, translate.Config{StateKeyTopics: true})
	var reused translate.Result
	for i, in := range inputs {
		now := t0.Add(time.Duration(i) * time.Second)
		want := normalized(byHandle.Handle(in, now))
		byInto.HandleInto(&reused, in, now)
		if got := normalized(reused); !reflect.DeepEqual(got, want) {
			t.Errorf("message %d (%s):\nHandleInto = %+v\nHandle     = %+v", i, in.Topic, got, want)
		}
	}
}

// normalized makes empty slices nil, so a reused Result and a new one
// compare equal when they hold the same.
func normalized(r translate.Result) translate.Result {
	if len(r.Publish) == 0 {
		r.Publish = nil
	}
	if len(r.Diagnostics) == 0 {
		r.Diagnostics = nil
	}
	if len(r.Requests) == 0 {
		r.Requests = nil
	}
	return r
}

// A reused Result saves the Publish slice's growth: with key topics a light
// message publishes several messages, and Handle grows a new slice for them
// every time.
func TestEngine_HandleIntoAllocatesLess(t *testing.T) {
	e := newEngine(t, translate.Config{StateKeyTopics: true})
	msgs := []translate.Message{
		{Topic: "zigbee2mqtt/living room/lamp", Payload: []byte(`{"brightness":254,"color_temp":370,"linkquality":120,"state":"ON"}`)},
		{Topic: "zigbee2mqtt/living room/lamp", Payload: []byte(`{"brightness":127,"color_temp":371,"linkquality":121,"state":"OFF"}`)},
	}
	i := 0
	next := func() (translate.Message, time.Time) {
		i++
		return msgs[i%2], t0.Add(time.Duration(i) * time.Millisecond)
	}
	byHandle := testing.AllocsPerRun(200, func() {
		m, now := next()
		if r := e.Handle(m, now); len(r.Publish) < 5 {
			t.Fatalf("published %d messages, want the envelope and at least 4 key topics", len(r.Publish))
		}
	})
	var r translate.Result
	byInto := testing.AllocsPerRun(200, func() {
		m, now := next()
		e.HandleInto(&r, m, now)
	})
	if byInto > byHandle-3 {
		t.Errorf("HandleInto allocates %.0f per message, Handle %.0f: want at least 3 fewer (1, 2, 4 and 8 elements grown)", byInto, byHandle)
	}
}
