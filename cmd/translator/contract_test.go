//go:build integration

package main_test

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/mqtttest"
)

func TestDaemon_StatusLastWillAndShutdown(t *testing.T) {
	t.Run("killed process leaves offline through the last will", func(t *testing.T) {
		_, _, w, p := setup(t, minimalInstance)
		w.Reset()
		p.signal(syscall.SIGKILL)
		m := w.WaitFor(prefix+"status", payloadIs("offline"), 10*time.Second)
		if !m.Retain || m.QoS != 1 {
			t.Errorf("last will retain=%v qos=%d, want retained QoS 1", m.Retain, m.QoS)
		}
	})
	t.Run("SIGTERM publishes offline and exits cleanly", func(t *testing.T) {
		_, _, w, p := setup(t, minimalInstance)
		w.Reset()
		start := time.Now()
		p.signal(syscall.SIGTERM)
		if code := p.wait(15 * time.Second); code != 0 {
			t.Errorf("exit code = %d, want 0", code)
		}
		m := w.WaitFor(prefix+"status", payloadIs("offline"), 5*time.Second)
		if !m.Retain {
			t.Error("offline is not retained")
		}
		if d := time.Since(start); d > 12*time.Second {
			t.Errorf("shutdown took %s", d)
		}
	})
}

func TestDaemon_OnlineAndStateAfterBrokerRestart(t *testing.T) {
	b, z2m, w, _ := setup(t, minimalInstance)
	z2m.Publish("zigbee2mqtt/"+lampName, `{"state":"ON","brightness":127}`, false)
	w.WaitFor(lampPrefix+"state", hasField("state.brightness", 50), 5*time.Second)

	b.Restart() // no persistence: every retained message is gone
	w2 := mqtttest.Connect(t, b.Addr, "watcher2")
	w2.Subscribe("IoT2mqtt/#")
	w2.WaitFor(prefix+"status", payloadIs("online"), 30*time.Second)
	m := w2.WaitFor(lampPrefix+"state", hasField("state.brightness", 50), 10*time.Second)
	if !m.Retain {
		t.Error("republished state is not retained")
	}
	w2.WaitFor(prefix+"meta/devices_list", nil, 5*time.Second)
}

func TestDaemon_BadInput(t *testing.T) {
	_, z2m, w, p := setup(t, minimalInstance)

	z2m.Publish("zigbee2mqtt/"+lampName, `{"state":"ON",`, false)
	e := w.WaitFor(lampPrefix+"error", hasField("error_code", "INVALID_PAYLOAD"), 5*time.Second)
	if !strings.Contains(e.Payload, "zigbee2mqtt/living room/lamp") {
		t.Errorf("error does not name the topic: %s", e.Payload)
	}

	w.Publish(prefix+"devices/0xdeadbeefdeadbeef/cmd", `{"id":"u1","values":{"power":true}}`, false)
	w.WaitFor(prefix+"devices/0xdeadbeefdeadbeef/error", hasField("error_code", "UNKNOWN_DEVICE"), 5*time.Second)
	w.WaitFor(prefix+"devices/0xdeadbeefdeadbeef/cmd/response", hasField("status", "error"), 5*time.Second)

	w.Publish(lampPrefix+"cmd", `{"values":{"power":true}`, false)
	w.WaitFor(lampPrefix+"error", hasField("error_code", "INVALID_PAYLOAD"), 5*time.Second)

	stale := time.Now().Add(-time.Minute).UTC().Format("2006-01-02T15:04:05.000000")
	w.Publish(lampPrefix+"cmd", `{"id":"s1","timestamp":"`+stale+`","values":{"brightness":10}}`, false)
	// A fresh command afterwards proves the one before it was dropped, not delayed.
	w.Publish(lampPrefix+"cmd", `{"values":{"brightness":30}}`, false)
	w.WaitFor("zigbee2mqtt/"+lampName+"/set", payloadIs(`{"brightness":76}`), 5*time.Second)
	if n := w.Count("zigbee2mqtt/"+lampName+"/set", nil); n != 1 {
		t.Errorf("%d set messages, want only the fresh command's", n)
	}
	for _, want := range []string{"dropped a stale command"} {
		if !strings.Contains(p.Output(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	// The daemon is still serving.
	z2m.Publish("zigbee2mqtt/"+lampName, `{"state":"ON","brightness":254}`, false)
	w.WaitFor(lampPrefix+"state", hasField("state.brightness", 100), 5*time.Second)
}

func TestDaemon_RenameAndRemoveCleanup(t *testing.T) {
	b, z2m, w, _ := setup(t, minimalInstance)
	z2m.Publish("zigbee2mqtt/"+lampName, `{"state":"ON","brightness":254}`, false)
	w.WaitFor(lampPrefix+"state/brightness", nil, 5*time.Second)

	devices := readFile(t, "../../translate/testdata/light_devices.json")
	renamed := strings.Replace(devices, `"friendly_name":"living room/lamp"`, `"friendly_name":"kitchen/lamp"`, 1)
	z2m.Publish("zigbee2mqtt/bridge/devices", renamed, true)
	w.WaitFor(prefix+"meta/devices_list", func(m mqtttest.Msg) bool { return strings.Contains(m.Payload, "kitchen/lamp") }, 5*time.Second)
	w.WaitFor(lampPrefix+"events", hasField("event", "device_renamed"), 5*time.Second)
	z2m.Publish("zigbee2mqtt/kitchen/lamp", `{"state":"OFF"}`, false)
	w.WaitFor(lampPrefix+"state", hasField("state.power", false), 5*time.Second)

	z2m.Publish("zigbee2mqtt/bridge/devices", `[]`, true)
	w.WaitFor(prefix+"meta/devices_list", payloadIs("[]"), 5*time.Second)
	// Every retained topic of the lamp is cleared. A state/{key} clear may
	// wait out its topic's spacing (up to keyTopicInterval and a grid step);
	// which publisher, and so which grid, a topic gets differs per process.
	for _, topic := range []string{lampPrefix + "state", lampPrefix + "state/brightness", lampPrefix + "state/power", lampPrefix + "state/online"} {
		m := w.WaitFor(topic, payloadIs(""), 5*time.Second)
		if !m.Retain {
			t.Errorf("%s cleared without retain", topic)
		}
	}
	// A new subscriber sees no ghost.
	late := mqtttest.Connect(t, b.Addr, "late")
	late.Subscribe(lampPrefix + "#")
	time.Sleep(500 * time.Millisecond)
	if got := late.Messages(); len(got) != 0 {
		t.Errorf("retained ghosts after removal: %v", got)
	}
}

func TestDaemon_RetainedCommandNotReplayed(t *testing.T) {
	b := mqtttest.StartBroker(t)
	z2m := mqtttest.Connect(t, b.Addr, "fake-z2m")
	z2m.Publish("zigbee2mqtt/bridge/devices", readFile(t, "../../translate/testdata/light_devices.json"), true)
	w := mqtttest.Connect(t, b.Addr, "watcher")
	w.Subscribe("IoT2mqtt/#", "zigbee2mqtt/+/+/set")
	// Left behind by someone who ticked "retain" in an MQTT tool.
	w.Publish(lampPrefix+"cmd", `{"values":{"brightness":20}}`, true)
	p := startTranslator(t, b, minimalInstance)
	w.WaitFor(prefix+"meta/devices_list", func(m mqtttest.Msg) bool { return strings.Contains(m.Payload, lampIEEE) }, 10*time.Second)
	w.Publish(lampPrefix+"cmd", `{"values":{"brightness":30}}`, false)
	w.WaitFor("zigbee2mqtt/"+lampName+"/set", payloadIs(`{"brightness":76}`), 5*time.Second)
	if n := w.Count("zigbee2mqtt/"+lampName+"/set", nil); n != 1 {
		t.Errorf("%d set messages, want only the fresh command's", n)
	}
	if !p.logged("ignored a retained command") {
		t.Error("log lacks the retained-command warning")
	}
}

func TestDaemon_CommandLifecycle(t *testing.T) {
	_, z2m, w, _ := setup(t, minimalInstance, "")
	t.Run("error from bridge/logging", func(t *testing.T) {
		w.Publish(lampPrefix+"cmd", `{"id":"e1","values":{"color_temp":4000}}`, false)
		w.WaitFor("zigbee2mqtt/"+lampName+"/set", payloadIs(`{"color_temp":250}`), 5*time.Second)
		z2m.Publish("zigbee2mqtt/bridge/logging", `{"level":"error","message":"Publish 'set' 'color_temp' to 'living room/lamp' failed: 'Error: ZCL command 0x000d6ffffe1a2b3c/1 lightingColorCtrl.moveToColorTemp failed (Timeout)'"}`, false)
		resp := w.WaitFor(lampPrefix+"cmd/response", hasField("cmd_id", "e1"), 5*time.Second)
		if got := jsonField(t, resp.Payload, "status"); got != "error" {
			t.Errorf("status = %v, want error (%s)", got, resp.Payload)
		}
		if e, _ := jsonField(t, resp.Payload, "error").(string); !strings.Contains(e, "Timeout") {
			t.Errorf("error text %q does not carry Zigbee2MQTT's reason", e)
		}
		w.WaitFor(lampPrefix+"error", hasField("error_code", "COMMAND_ERROR"), 5*time.Second)
	})
	t.Run("timeout when no echo arrives", func(t *testing.T) {
		w.Publish(lampPrefix+"cmd", `{"id":"t1","timeout":800,"values":{"brightness":10}}`, false)
		start := time.Now()
		resp := w.WaitFor(lampPrefix+"cmd/response", hasField("cmd_id", "t1"), 5*time.Second)
		if got := jsonField(t, resp.Payload, "status"); got != "timeout" {
			t.Errorf("status = %v, want timeout (%s)", got, resp.Payload)
		}
		if d := time.Since(start); d < 700*time.Millisecond {
			t.Errorf("timed out after %s, before the command's 800 ms", d)
		}
	})
	t.Run("exactly one response per id", func(t *testing.T) {
		w.Publish(lampPrefix+"cmd", `{"id":"d1","values":{"power":true}}`, false)
		w.Publish(lampPrefix+"cmd", `{"id":"d1","values":{"power":true}}`, false)
		z2m.Publish("zigbee2mqtt/"+lampName, `{"state":"ON"}`, false)
		w.WaitFor(lampPrefix+"cmd/response", hasField("cmd_id", "d1"), 5*time.Second)
		time.Sleep(300 * time.Millisecond)
		if n := w.Count(lampPrefix+"cmd/response", hasField("cmd_id", "d1")); n != 1 {
			t.Errorf("%d responses for d1, want 1", n)
		}
		if n := w.Count("zigbee2mqtt/"+lampName+"/set", payloadIs(`{"state":"ON"}`)); n != 1 {
			t.Errorf("duplicate command executed %d times", n)
		}
	})
}

func TestDaemon_GetGroupsMetaBridge(t *testing.T) {
	instance := `{"instance_id":"zb1","connection":{},"groups":[{"group_id":"downstairs","devices":["` + lampIEEE + `"]}]}`
	_, z2m, w, _ := setup(t, instance)
	z2m.Publish("zigbee2mqtt/"+lampName, `{"state":"ON","brightness":254,"color_temp":370}`, false)
	w.WaitFor(lampPrefix+"state", nil, 5*time.Second)

	w.Reset()
	w.Publish(lampPrefix+"get", `{"properties":["brightness"]}`, false)
	get := w.WaitFor("zigbee2mqtt/"+lampName+"/get", nil, 5*time.Second)
	if get.Payload != `{"brightness":""}` {
		t.Errorf("get payload = %s, want {\"brightness\":\"\"}", get.Payload)
	}
	st := w.WaitFor(lampPrefix+"state", nil, 5*time.Second)
	if jsonField(t, st.Payload, "state.power") != nil || jsonField(t, st.Payload, "state.brightness") != 100.0 {
		t.Errorf("filtered state = %s, want only brightness", st.Payload)
	}
	if st.Retain {
		t.Error("a filtered get answer must not replace the retained full state")
	}

	z2m.Publish("zigbee2mqtt/bridge/groups", `[{"id":7,"friendly_name":"ground floor","members":[{"ieee_address":"`+lampIEEE+`","endpoint":1}]}]`, true)
	time.Sleep(200 * time.Millisecond)
	w.Publish(prefix+"groups/7/cmd", `{"values":{"power":true}}`, false)
	w.WaitFor("zigbee2mqtt/ground floor/set", payloadIs(`{"state":"ON"}`), 5*time.Second)
	w.Publish(prefix+"groups/downstairs/cmd", `{"values":{"brightness":100}}`, false)
	w.WaitFor("zigbee2mqtt/"+lampName+"/set", payloadIs(`{"brightness":254}`), 5*time.Second)
	w.Publish(prefix+"groups/nope/cmd", `{"values":{"power":true}}`, false)
	w.WaitFor(prefix+"error", hasField("error_code", "UNKNOWN_GROUP"), 5*time.Second)

	w.Publish(prefix+"meta/request/info", ``, false)
	info := w.WaitFor(prefix+"meta/info", hasField("devices_count", 1), 5*time.Second)
	for _, k := range []string{"instance_id", "connector_type", "groups_count", "uptime", "zigbee2mqtt_version", "translator_version"} {
		if !strings.Contains(info.Payload, `"`+k+`"`) {
			t.Errorf("meta/info lacks %s: %s", k, info.Payload)
		}
	}
	w.Reset()
	w.Publish(prefix+"meta/request/devices_list", ``, false)
	w.WaitFor(prefix+"meta/devices_list", nil, 5*time.Second)

	w.Publish(prefix+"devices/bridge/cmd", `{"id":"pj","values":{"permit_join":60}}`, false)
	req := w.WaitFor("zigbee2mqtt/bridge/request/permit_join", nil, 5*time.Second)
	if jsonField(t, req.Payload, "time") != 60.0 {
		t.Errorf("permit_join request = %s", req.Payload)
	}
	z2m.Publish("zigbee2mqtt/bridge/response/permit_join", `{"data":{"time":60},"status":"ok","transaction":"pj"}`, false)
	w.WaitFor(prefix+"devices/bridge/cmd/response", hasField("status", "success"), 5*time.Second)
}

func TestDaemon_BridgeOfflineMarksDevicesOffline(t *testing.T) {
	_, z2m, w, _ := setup(t, minimalInstance)
	z2m.Publish("zigbee2mqtt/"+lampName, `{"state":"ON"}`, false)
	w.WaitFor(lampPrefix+"state", hasField("state.online", true), 5*time.Second)
	z2m.Publish("zigbee2mqtt/bridge/state", `{"state":"offline"}`, true)
	w.WaitFor(lampPrefix+"availability", payloadIs("offline"), 5*time.Second)
	w.WaitFor(lampPrefix+"state", hasField("state.online", false), 5*time.Second)
	z2m.Publish("zigbee2mqtt/bridge/state", `{"state":"online"}`, true)
	w.WaitFor(lampPrefix+"availability", payloadIs("online"), 5*time.Second)
	z2m.Publish("zigbee2mqtt/"+lampName+"/availability", `{"state":"offline"}`, true)
	m := w.WaitFor(lampPrefix+"state", hasField("state.online", false), 5*time.Second)
	if jsonField(t, m.Payload, "state.power") != true {
		t.Errorf("last values dropped while offline: %s", m.Payload)
	}
}

// TestDaemon_StartupSweepClearsGhosts: retained topics of a device that no
// longer exists are cleared at startup, and only under our instance prefix.
func TestDaemon_StartupSweepClearsGhosts(t *testing.T) {
	b := mqtttest.StartBroker(t)
	z2m := mqtttest.Connect(t, b.Addr, "fake-z2m")
	z2m.Publish("zigbee2mqtt/bridge/devices", readFile(t, "../../translate/testdata/light_devices.json"), true)
	ghost := prefix + "devices/0x00158d0000000bad/"
	z2m.Publish(ghost+"state", `{"timestamp":"2026-01-01T00:00:00Z","device_id":"0x00158d0000000bad","state":{"power":true}}`, true)
	z2m.Publish(ghost+"state/power", `true`, true)
	z2m.Publish(ghost+"availability", `online`, true)
	other := "IoT2mqtt/v1/instances/other/devices/0x00158d0000000bad/state"
	z2m.Publish(other, `{"state":{}}`, true)
	startTranslator(t, b, minimalInstance)
	w := mqtttest.Connect(t, b.Addr, "watcher")
	w.Subscribe("IoT2mqtt/#")
	w.WaitFor(prefix+"meta/devices_list", nil, 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		late := mqtttest.Connect(t, b.Addr, "late-"+time.Now().Format("150405.000"))
		late.Subscribe(ghost+"#", other)
		time.Sleep(300 * time.Millisecond)
		got := late.Messages()
		if len(got) == 1 && got[0].Topic == other {
			return // ghost cleared, the other instance's topic untouched
		}
	}
	t.Fatal("retained topics of the removed device were not swept, or another instance's were")
}
