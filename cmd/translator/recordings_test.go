//go:build integration

package main_test

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/coordinator"
	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/mqtttest"
	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/replay"
)

// rerecord makes TestRecordFixtures write the recorded cases into
// test/testdata (test/rerecord.sh sets it).
var rerecord = flag.Bool("rerecord", false, "record the virtual network's cases into test/testdata/recorded-*")

// recordedIEEE names the built-in devices the recordings use.
var recordedIEEE = map[string]string{
	"bulb": "0x000d6ffffe4b5c6d", "colour": "0x0017880102a3b4c5", "sensor": "0x00124b0022a3b4c5",
	"motion": "0x00124b0024c5d6e7", "contact": "0x00158d00054d6e7f", "leak": "0x00158d0003c2d1e0",
	"plug": "0xa4c1382b9c0d1e2f", "gang": "0xa4c1385e6f7a8b9c", "blind": "0xccccccfffe3d4e5f",
	"lock": "0x000d6f000c1d2e3f", "trv": "0x3425b4fffe1a2b3c", "remote": "0x680ae2fffe7d8e9f",
	"remote2": "0x90fd9ffffe0a1b2c", "relay": "0x00124b001f6e7d8c", "huemotion": "0x00178801034f5e6d",
}

// recordedGroups are the instance's own groups (the platform's, not
// Zigbee2MQTT's); the group case's fixture carries them in instance.json.
const recordedGroups = `[{"group_id":"evening","devices":["0x000d6ffffe4b5c6d","0x0017880102a3b4c5"]}]`

// recording drives the live virtual network during one recorded case.
type recording struct {
	t   *testing.T
	emu *coordinator.Emulator
	w   *mqtttest.Client
	n   int
}

const recPrefix = "IoT2mqtt/v1/instances/zb/"

// cmd sends an IoT2MQTT command and waits for its response with status.
func (r *recording) cmd(dev, values, status string) {
	r.t.Helper()
	r.n++
	id := "c" + strconv.Itoa(r.n)
	topic := recPrefix + "devices/" + recordedIEEE[dev] + "/cmd"
	if dev == "bridge" {
		topic = recPrefix + "devices/bridge/cmd"
	}
	r.w.Publish(topic, `{"id":"`+id+`","values":`+values+`}`, false)
	resp := r.w.WaitFor(strings.TrimSuffix(topic, "cmd")+"cmd/response", hasField("cmd_id", id), 40*time.Second)
	if !strings.Contains(resp.Payload, `"status":"`+status+`"`) {
		r.t.Fatalf("%s %s answered %s, want %s", dev, values, resp.Payload, status)
	}
}

// set changes an attribute of a device, which reports it, and waits for
// the state to show want at key.
func (r *recording) set(dev string, ep byte, cluster, attr uint16, value any, key string, want any) {
	r.t.Helper()
	if err := r.emu.SetAttribute(ieee(r.t, recordedIEEE[dev]), ep, cluster, attr, value); err != nil {
		r.t.Fatal(err)
	}
	r.w.WaitFor(recPrefix+"devices/"+recordedIEEE[dev]+"/state", hasField("state."+key, want), 20*time.Second)
}

// TestRecordFixtures records replay cases from the real Zigbee2MQTT on the
// virtual network with `translator record`, one network for all of them.
// Without -rerecord it records into a temporary directory and checks that
// every case replays to publications; with it (test/rerecord.sh), it
// rewrites test/testdata/recorded-* and their expected.jsonl.
func TestRecordFixtures(t *testing.T) {
	z2mEnv := installedZigbee2MQTT(t)
	if testing.Short() {
		t.Skip("records from the real Zigbee2MQTT")
	}
	out := t.TempDir()
	if *rerecord {
		out = filepath.Join("..", "..", "test", "testdata")
	}
	emu := startCoordinator(t, filepath.Join(t.TempDir(), "coordinator.json"))
	b := mqtttest.StartBroker(t)
	w := mqtttest.Connect(t, b.Addr, "operator")
	w.Subscribe("IoT2mqtt/#", "zigbee2mqtt/bridge/state", "zigbee2mqtt/bridge/response/#", "zigbee2mqtt/bridge/groups", "zigbee2mqtt/living room/#")
	startTranslator(t, b, `{"instance_id":"zb","groups":`+recordedGroups+`,"connection":{"serial_port":"tcp://`+emu.Addr()+`","adapter":"zstack","z2m_base_topic":"zigbee2mqtt",`+
		`"channel":15,"pan_id":"0x1a62","ext_pan_id":"dddddddddddddddd","network_key":"0102030405060708090a0b0c0d0e0f10","data_dir":"`+filepath.Join(t.TempDir(), "z2m")+`"}}`,
		z2mEnv, "LOG_LEVEL=INFO")
	w.WaitFor(recPrefix+"meta/info", hasField("bridge_online", true), 90*time.Second)
	r := &recording{t: t, emu: emu, w: w}
	join := func(devs ...string) {
		for _, d := range devs {
			if err := emu.Join(ieee(t, recordedIEEE[d])); err != nil {
				t.Fatal(err)
			}
		}
		w.WaitFor(recPrefix+"meta/devices_list", func(m mqtttest.Msg) bool {
			for _, d := range devs {
				if !strings.Contains(m.Payload, recordedIEEE[d]) {
					return false
				}
			}
			return !strings.Contains(m.Payload, `"model":"unknown"`)
		}, 60*time.Second)
	}
	settle := func() { time.Sleep(1500 * time.Millisecond) }

	// Each case names the devices it needs; they join before its recording
	// starts, so every recording holds the devices list of its time.
	cases := []struct {
		name  string
		needs []string
		run   func()
	}{
		{"join-interview", nil, func() {
			r.cmd("bridge", `{"permit_join":254}`, "success")
			join("bulb", "sensor")
			waitConfigured(t, emu, recordedIEEE["sensor"], 1, 0x0402, 0x0000)
		}},
		{"white-light-commands", nil, func() {
			r.cmd("bulb", `{"power":true}`, "success")
			r.cmd("bulb", `{"brightness":40}`, "success")
			r.cmd("bulb", `{"color_temp":2700}`, "success")
			r.cmd("bulb", `{"power":"toggle"}`, "success")
		}},
		{"sensor-reports", nil, func() {
			r.set("sensor", 1, 0x0402, 0x0000, 1850.0, "temperature", 18.5)
			r.set("sensor", 1, 0x0405, 0x0000, 5230.0, "humidity", 52.3)
		}},
		{"failed-command", nil, func() {
			if err := emu.Fault(ieee(t, recordedIEEE["bulb"]), "confirm", 10, 0); err != nil {
				t.Fatal(err)
			}
			r.cmd("bulb", `{"power":false}`, "error")
			if err := emu.Fault(ieee(t, recordedIEEE["bulb"]), "confirm", 0, 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"colour-light-commands", []string{"colour"}, func() {
			r.cmd("colour", `{"power":true,"rgb":"#00ff00"}`, "success")
			r.cmd("colour", `{"color":{"hue":240,"saturation":100}}`, "success")
		}},
		{"plug-metering", []string{"plug"}, func() {
			r.set("plug", 1, 0x0b04, 0x050b, 1200.0, "power_w", 1200.0)
			r.set("plug", 1, 0x0b04, 0x0505, 231.0, "voltage", 231.0)
			r.cmd("plug", `{"power":false}`, "success")
			r.cmd("plug", `{"power":true}`, "success")
		}},
		{"two-gang-switch", []string{"gang"}, func() {
			r.cmd("gang", `{"power_l2":false}`, "success")
			r.cmd("gang", `{"power_l1":true,"power_l2":true}`, "success")
		}},
		{"contact-leak-motion", []string{"contact", "leak", "motion"}, func() {
			r.set("contact", 1, 0x0006, 0x0000, true, "contact", false)
			r.set("contact", 1, 0x0006, 0x0000, false, "contact", true)
			r.set("leak", 1, 0x0500, 0x0002, 1.0, "water_leak", true)
			r.set("leak", 1, 0x0500, 0x0002, 0.0, "water_leak", false)
			r.set("motion", 1, 0x0500, 0x0002, 1.0, "occupancy", true)
		}},
		{"blind-position", []string{"blind"}, func() {
			r.cmd("blind", `{"position":30}`, "success")
			r.set("blind", 1, 0x0102, 0x0008, 70.0, "position", 30.0)
		}},
		{"lock-unlock", []string{"lock"}, func() {
			r.cmd("lock", `{"locked":false}`, "success")
			r.cmd("lock", `{"locked":true}`, "success")
		}},
		{"thermostat-setpoint-mode", []string{"trv"}, func() {
			r.cmd("trv", `{"target_temp":22.5}`, "success")
			r.cmd("trv", `{"mode":"off"}`, "success")
			r.set("trv", 1, 0x0201, 0x0000, 1975.0, "current_temp", 19.75)
		}},
		{"remote-actions", []string{"remote", "remote2"}, func() {
			for _, c := range []struct {
				dev     string
				cluster uint16
				cmd     byte
				payload []byte
			}{
				{"remote", 0x0006, 0x01, nil},                 // on
				{"remote", 0x0006, 0x00, nil},                 // off
				{"remote2", 0x0006, 0x02, nil},                // toggle
				{"remote2", 0x0008, 0x05, []byte{0x00, 0x53}}, // move up with on/off: held
				{"remote2", 0x0008, 0x07, nil},                // stop with on/off: released
			} {
				if err := emu.Command(ieee(t, recordedIEEE[c.dev]), 1, c.cluster, c.cmd, c.payload); err != nil {
					t.Fatal(err)
				}
			}
			w.WaitFor(recPrefix+"devices/"+recordedIEEE["remote"]+"/events", hasField("event", "off"), 20*time.Second)
			w.WaitFor(recPrefix+"devices/"+recordedIEEE["remote2"]+"/events", hasField("event", "brightness_up_release"), 20*time.Second)
		}},
		{"relay-flat-command", []string{"relay"}, func() {
			// The platform's flat form: values beside the id, not in "values".
			w.Publish(recPrefix+"devices/"+recordedIEEE["relay"]+"/cmd", `{"id":"flat","power":false}`, false)
			w.WaitFor(recPrefix+"devices/"+recordedIEEE["relay"]+"/cmd/response", func(m mqtttest.Msg) bool {
				return hasField("cmd_id", "flat")(m) && hasField("status", "success")(m)
			}, 20*time.Second)
			r.cmd("relay", `{"power":true}`, "success")
		}},
		{"motion-sensor-get", []string{"huemotion"}, func() {
			r.set("huemotion", 2, 0x0406, 0x0000, 1.0, "occupancy", true)
			r.set("huemotion", 2, 0x0400, 0x0000, 20000.0, "illuminance", 100.0)
			w.Reset()
			w.Publish(recPrefix+"devices/"+recordedIEEE["huemotion"]+"/get", `{"properties":["occupancy_timeout","motion_sensitivity"]}`, false)
			w.WaitFor(recPrefix+"devices/"+recordedIEEE["huemotion"]+"/state", func(m mqtttest.Msg) bool {
				return strings.Contains(m.Payload, "motion_sensitivity")
			}, 20*time.Second)
		}},
		{"group-command", nil, func() {
			bridge := func(request, payload string) {
				w.Publish("zigbee2mqtt/bridge/request/"+request, payload, false)
				w.WaitFor("zigbee2mqtt/bridge/response/"+request, hasField("status", "ok"), 20*time.Second)
			}
			bridge("group/add", `{"friendly_name":"living room/lights","id":1}`)
			w.Reset()
			bridge("group/members/add", `{"group":"living room/lights","device":"`+recordedIEEE["bulb"]+`","endpoint":1}`)
			w.Reset()
			bridge("group/members/add", `{"group":"living room/lights","device":"`+recordedIEEE["colour"]+`","endpoint":11}`)
			w.Reset()
			// A Zigbee2MQTT group, by its id; the instance's own group; an unknown group.
			w.Publish(recPrefix+"groups/1/cmd", `{"values":{"power":true,"brightness":60}}`, false)
			for _, d := range []string{"bulb", "colour"} {
				w.WaitFor(recPrefix+"devices/"+recordedIEEE[d]+"/state", hasField("state.brightness", 60.0), 20*time.Second)
			}
			w.Publish(recPrefix+"groups/evening/cmd", `{"values":{"color_temp":2700}}`, false)
			// 2700 K is 370 mired, which reads back as 2703 K.
			w.WaitFor(recPrefix+"devices/"+recordedIEEE["bulb"]+"/state", hasField("state.color_temp", 2703.0), 20*time.Second)
			w.Publish(recPrefix+"groups/nope/cmd", `{"values":{"power":true}}`, false)
			w.WaitFor(recPrefix+"error", nil, 20*time.Second)
			for _, d := range []string{"bulb", "colour"} {
				if got, _ := emu.Attribute(ieee(t, recordedIEEE[d]), map[string]byte{"bulb": 1, "colour": 11}[d], 0x0008, 0x0000); got != 152.0 {
					t.Errorf("the group command left %s's level at %v, want 152 (60 %%)", d, got)
				}
			}
		}},
		{"rename-and-leave", nil, func() {
			w.Publish("zigbee2mqtt/bridge/request/device/rename", `{"from":"`+recordedIEEE["motion"]+`","to":"hallway/motion"}`, false)
			w.WaitFor(recPrefix+"meta/devices_list", func(m mqtttest.Msg) bool { return strings.Contains(m.Payload, "hallway/motion") }, 20*time.Second)
			if err := emu.Leave(ieee(t, recordedIEEE["contact"])); err != nil {
				t.Fatal(err)
			}
			w.WaitFor(recPrefix+"devices/"+recordedIEEE["contact"]+"/state", func(m mqtttest.Msg) bool { return m.Payload == "" }, 20*time.Second)
		}},
		{"bridge-restart", nil, func() {
			w.Reset()
			w.Publish("zigbee2mqtt/bridge/request/restart", `{}`, false)
			w.WaitFor("zigbee2mqtt/bridge/state", hasField("state", "offline"), 30*time.Second)
			w.Reset()
			w.WaitFor("zigbee2mqtt/bridge/state", hasField("state", "online"), 60*time.Second)
			reportSeen(t, emu, w, recordedIEEE["sensor"], 0x0402, 2010.0,
				recPrefix+"devices/"+recordedIEEE["sensor"]+"/state", hasField("state.temperature", 20.1))
		}},
	}
	// configured is the endpoint and attribute whose reporting a device's
	// configure sets up, for the devices whose recordings report it.
	type attribute struct {
		ep            byte
		cluster, attr uint16
	}
	configured := map[string]attribute{"plug": {1, 0x0b04, 0x050b}, "trv": {1, 0x0201, 0x0000}, "huemotion": {2, 0x0406, 0x0000}}
	for _, c := range cases {
		if len(c.needs) > 0 {
			join(c.needs...)
			for _, d := range c.needs {
				if a, ok := configured[d]; ok {
					waitConfigured(t, emu, recordedIEEE[d], a.ep, a.cluster, a.attr)
				}
			}
			settle()
		}
		dir := filepath.Join(out, "recorded-"+c.name)
		rec := startRecorder(t, b, dir)
		c.run()
		settle()
		stopRecorder(t, rec)
		if c.name == "group-command" {
			if err := os.WriteFile(filepath.Join(dir, "instance.json"), []byte(`{"instance_id":"zb","connection":{},"groups":`+recordedGroups+`}`+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		o, err := replay.Run(dir, replay.Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(o.Got) == 0 {
			t.Errorf("%s: the recording replays to no publications", c.name)
		}
		if err := replay.Update(dir, o); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d messages recorded, %d publications", c.name, len(mustLines(t, filepath.Join(dir, "input.jsonl"))), len(o.Got))
	}
}

func mustLines(t *testing.T, path string) []replay.Line {
	t.Helper()
	ls, err := replay.ReadLines(path)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// startRecorder runs `translator record` into dir, with the IoT2MQTT
// commands, and waits until it has subscribed.
func startRecorder(t *testing.T, b *mqtttest.Broker, dir string) *proc {
	t.Helper()
	_ = os.RemoveAll(dir)
	p := startProcess(t, exec.Command(binary, "record", "-broker", "mqtt://"+b.Addr, "-commands", "IoT2mqtt", dir))
	if !p.logged("recording ") {
		t.Fatalf("translator record did not start: %s", p.Output())
	}
	time.Sleep(300 * time.Millisecond) // the retained topics arrive first
	return p
}

// stopRecorder ends the recording as Ctrl-C does; the recorder writes the
// fixture.
func stopRecorder(t *testing.T, p *proc) {
	t.Helper()
	p.signal(syscall.SIGINT)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("translator record exited %d: %s", code, p.Output())
	}
}
