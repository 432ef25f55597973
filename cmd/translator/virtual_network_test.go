//go:build integration

package main_test

import (
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/coordinator"
	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/mqtttest"
	"github.com/iot2mqtt/zigbee2mqtt-translator/upstream"
)

const (
	bulbIEEE   = "0x000d6ffffe4b5c6d" // coordinator/devices/ikea-led1545g12.json
	sensorIEEE = "0x00124b0022a3b4c5" // coordinator/devices/sonoff-snzb-02.json
)

// startCoordinator runs the emulated coordinator with the built-in devices.
func startCoordinator(t *testing.T, state string) *coordinator.Emulator {
	t.Helper()
	emu, _ := startCoordinatorAt(t, state, "127.0.0.1:0")
	return emu
}

// startCoordinatorAt runs the emulated coordinator on addr; stop ends it
// (the test's end does too).
func startCoordinatorAt(t *testing.T, state, addr string) (emu *coordinator.Emulator, stop func()) {
	t.Helper()
	descs, err := coordinator.LoadDescriptions(coordinator.Builtin, "devices")
	if err != nil {
		t.Fatal(err)
	}
	emu, err = coordinator.New(coordinator.Config{Listen: addr, StatePath: state, Devices: descs, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := emu.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); emu.Wait() }) }
	t.Cleanup(stop)
	return emu, stop
}

// installedZigbee2MQTT skips the test unless the pinned Zigbee2MQTT is
// installed, and returns the environment entry that points the translator
// at it.
func installedZigbee2MQTT(t *testing.T) string {
	t.Helper()
	dir, err := upstream.FindInstallDir()
	if err != nil {
		t.Skipf("Zigbee2MQTT %s is not installed (%v); test/run.sh installs it", upstream.Z2MVersion, err)
	}
	return upstream.InstallDirEnv + "=" + dir
}

func ieee(t *testing.T, s string) uint64 {
	v, err := coordinator.ParseIEEE(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestDaemon_EmbeddedVirtualNetwork runs the daemon in embedded mode: it
// configures and starts the real, pinned Zigbee2MQTT against the emulated
// coordinator, with a real Mosquitto. Everything is observed on the
// IoT2MQTT topics, as the platform sees it.
func TestDaemon_EmbeddedVirtualNetwork(t *testing.T) {
	z2mEnv := installedZigbee2MQTT(t)
	dir := t.TempDir()
	emu, stopEmu := startCoordinatorAt(t, filepath.Join(dir, "coordinator.json"), "127.0.0.1:0")
	b := mqtttest.StartBroker(t)
	w := mqtttest.Connect(t, b.Addr, "watcher")
	w.Subscribe("IoT2mqtt/#")
	instance := `{"instance_id":"zb1","connection":{"serial_port":"tcp://` + emu.Addr() + `","adapter":"zstack",` +
		`"channel":15,"pan_id":"0x1a62","ext_pan_id":"dddddddddddddddd","network_key":"0102030405060708090a0b0c0d0e0f10","data_dir":"` + filepath.Join(dir, "z2m") + `"}}`
	p := startTranslator(t, b, instance, z2mEnv)

	// Zigbee2MQTT formed the network and its bridge is online.
	w.WaitFor(prefix+"meta/info", func(m mqtttest.Msg) bool {
		return hasField("mode", "embedded")(m) && hasField("bridge_online", true)(m) && hasField("zigbee2mqtt_version", upstream.Z2MVersion)(m)
	}, 90*time.Second)

	// Joining is permitted through the bridge pseudo-device; both devices
	// join, are interviewed and recognised by model.
	w.Publish(prefix+"devices/bridge/cmd", `{"id":"pj","values":{"permit_join":120}}`, false)
	resp := w.WaitFor(prefix+"devices/bridge/cmd/response", hasField("cmd_id", "pj"), 20*time.Second)
	if !strings.Contains(resp.Payload, `"success"`) {
		t.Fatalf("permit_join: %s", resp.Payload)
	}
	var models []string
	for _, d := range emu.Devices() {
		if err := emu.Join(ieee(t, d.IEEE)); err != nil {
			t.Fatal(err)
		}
		models = append(models, `"model":"`+d.Model+`"`)
	}
	if len(models) < 12 {
		t.Fatalf("%d device descriptions, want the catalog's", len(models))
	}
	list := w.WaitFor(prefix+"meta/devices_list", func(m mqtttest.Msg) bool {
		return strings.Count(m.Payload, `"device_id"`) == len(models) && !strings.Contains(m.Payload, `"model":"unknown"`)
	}, 90*time.Second)
	for _, m := range models {
		if !strings.Contains(list.Payload, m) {
			t.Errorf("devices_list lacks %s", m)
		}
	}

	// A report becomes state: the sensor's temperature (configured for
	// reporting by the definition's configure) arrives as °C.
	sensorState := prefix + "devices/" + sensorIEEE + "/state"
	waitConfigured(t, emu, sensorIEEE, 1, 0x0402, 0x0000)
	if err := emu.SetAttribute(ieee(t, sensorIEEE), 1, 0x0402, 0x0000, 1850.0); err != nil {
		t.Fatal(err)
	}
	w.WaitFor(sensorState, hasField("state.temperature", 18.5), 20*time.Second)

	// Commands change the simulated bulb, and the echo answers success.
	bulb := prefix + "devices/" + bulbIEEE + "/"
	for _, c := range []struct {
		id, values    string
		cluster, attr uint16
		want          float64
	}{
		{"off", `{"power":false}`, 0x0006, 0x0000, 0},
		{"dim", `{"power":true,"brightness":40}`, 0x0008, 0x0000, 102},
		{"warm", `{"color_temp":2500}`, 0x0300, 0x0007, 400},
	} {
		w.Publish(bulb+"cmd", `{"id":"`+c.id+`","values":`+c.values+`}`, false)
		r := w.WaitFor(bulb+"cmd/response", hasField("cmd_id", c.id), 20*time.Second)
		if !strings.Contains(r.Payload, `"status":"success"`) {
			t.Errorf("%s: %s", c.id, r.Payload)
		}
		if got, _ := emu.Attribute(ieee(t, bulbIEEE), 1, c.cluster, c.attr); got != c.want {
			t.Errorf("%s: the bulb's attribute 0x%04x/0x%04x = %v, want %v", c.id, c.cluster, c.attr, got, c.want)
		}
	}

	// Every family reports, and obeys commands through the real echo.
	for _, r := range []struct {
		what, ieee    string
		ep            byte
		cluster, attr uint16
		value         any
		key           string
		want          any
		configured    bool // the definition configures reporting of the attribute
	}{
		{"contact", "0x00158d00054d6e7f", 1, 0x0006, 0x0000, false, "state.contact", true, false}, // closed: onOff 0
		{"water leak", "0x00158d0003c2d1e0", 1, 0x0500, 0x0002, 1.0, "state.water_leak", true, false},
		{"motion", "0x00124b0024c5d6e7", 1, 0x0500, 0x0002, 1.0, "state.occupancy", true, false},
		{"metering", "0xa4c1382b9c0d1e2f", 1, 0x0b04, 0x050b, 120.0, "state.power_w", 120.0, true},
		{"thermostat", "0x3425b4fffe1a2b3c", 1, 0x0201, 0x0000, 1975.0, "state.current_temp", 19.75, true},
	} {
		if r.configured {
			waitConfigured(t, emu, r.ieee, r.ep, r.cluster, r.attr)
		}
		if err := emu.SetAttribute(ieee(t, r.ieee), r.ep, r.cluster, r.attr, r.value); err != nil {
			t.Fatal(err)
		}
		w.WaitFor(prefix+"devices/"+r.ieee+"/state", hasField(r.key, r.want), 20*time.Second)
	}
	for _, c := range []struct {
		what, ieee, values string
		ep                 byte
		cluster, attr      uint16
		want               func(float64) bool
	}{
		{"colour xy", "0x0017880102a3b4c5", `{"rgb":"#00ff00"}`, 11, 0x0300, 0x0003, func(x float64) bool { return x < 20000 }},
		{"hue and saturation", "0x0017880102a3b4c5", `{"color":{"hue":240,"saturation":100}}`, 11, 0x0300, 0x0001, equals(254)},
		{"plug", "0xa4c1382b9c0d1e2f", `{"power":false}`, 1, 0x0006, 0x0000, equals(0)},
		{"second gang", "0xa4c1385e6f7a8b9c", `{"power_l2":false}`, 2, 0x0006, 0x0000, equals(0)},
		{"cover", "0xccccccfffe3d4e5f", `{"position":30}`, 1, 0x0102, 0x0008, equals(70)},
		{"lock", "0x000d6f000c1d2e3f", `{"locked":false}`, 1, 0x0101, 0x0000, equals(2)},
		{"setpoint", "0x3425b4fffe1a2b3c", `{"target_temp":22.5}`, 1, 0x0201, 0x0012, equals(2250)},
		{"system mode", "0x3425b4fffe1a2b3c", `{"mode":"off"}`, 1, 0x0201, 0x001c, equals(0)},
	} {
		dev := prefix + "devices/" + c.ieee + "/"
		w.Publish(dev+"cmd", `{"id":"`+c.what+`","values":`+c.values+`}`, false)
		r := w.WaitFor(dev+"cmd/response", hasField("cmd_id", c.what), 20*time.Second)
		if !strings.Contains(r.Payload, `"status":"success"`) {
			t.Errorf("%s: %s", c.what, r.Payload)
		}
		if got, _ := emu.Attribute(ieee(t, c.ieee), c.ep, c.cluster, c.attr); !c.want(asNumber(got)) {
			t.Errorf("%s: attribute 0x%04x/0x%04x of %s = %v", c.what, c.cluster, c.attr, c.ieee, got)
		}
	}

	// Every device was interviewed and configured without an error.
	if n := w.Count("IoT2mqtt/v1/global/events", hasField("event", "device_interview_failed")); n > 0 {
		t.Errorf("%d device_interview_failed events", n)
	}
	for _, bad := range []string{"Interview failed", "Failed to configure"} {
		if i := strings.Index(p.Output(), bad); i >= 0 {
			t.Errorf("Zigbee2MQTT logged %q", p.Output()[i:min(len(p.Output()), i+300)])
		}
	}

	// A device that fails the command gets error, never success.
	if err := emu.Fault(ieee(t, bulbIEEE), "confirm", 10, 0); err != nil {
		t.Fatal(err)
	}
	w.Publish(bulb+"cmd", `{"id":"fails","timeout":30000,"values":{"power":false}}`, false)
	r := w.WaitFor(bulb+"cmd/response", hasField("cmd_id", "fails"), 40*time.Second)
	if !strings.Contains(r.Payload, `"status":"error"`) {
		t.Errorf("failed command answered %s, want error", r.Payload)
	}
	if err := emu.Fault(ieee(t, bulbIEEE), "confirm", 0, 0); err != nil {
		t.Fatal(err)
	}

	// The sensor leaves: its retained state is cleared.
	if err := emu.Leave(ieee(t, sensorIEEE)); err != nil {
		t.Fatal(err)
	}
	w.WaitFor(sensorState, func(m mqtttest.Msg) bool { return m.Payload == "" && m.Retain }, 20*time.Second)

	// Zigbee2MQTT is killed: the supervisor starts it again, it resumes
	// the same network, and state flows again.
	if err := syscall.Kill(z2mPID(t, p), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitResumed(t, p, 1)
	reportSeen(t, emu, w, bulbIEEE, 0x0006, true, bulb+"state", hasField("state.power", true))

	// The coordinator drops the connection: Zigbee2MQTT exits, the
	// supervisor starts it again once the coordinator answers, and state
	// flows again.
	emu.Drop()
	waitResumed(t, p, 2)
	reportSeen(t, emu, w, bulbIEEE, 0x0006, false, bulb+"state", hasField("state.power", false))

	// The coordinator is gone for a while: Zigbee2MQTT cannot reach it and
	// the supervisor retries; when it is back with its state, the network
	// resumes and state flows again.
	addr := emu.Addr()
	failures := strings.Count(p.Output(), "ECONNREFUSED")
	stopEmu()
	for deadline := time.Now().Add(60 * time.Second); strings.Count(p.Output(), "ECONNREFUSED") == failures; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Zigbee2MQTT never tried the coordinator while it was gone")
		}
	}
	emu, _ = startCoordinatorAt(t, filepath.Join(dir, "coordinator.json"), addr)
	waitResumed(t, p, 3)
	reportSeen(t, emu, w, bulbIEEE, 0x0006, true, bulb+"state", hasField("state.power", true))

	// Every start used the one network the coordinator formed.
	if n := strings.Count(p.Output(), "zigbee-herdsman started (reset)") + strings.Count(p.Output(), "zigbee-herdsman started (restored)"); n > 1 {
		t.Errorf("the network was formed %d times, want once", n)
	}
}

// reportSeen makes a device report attribute 0x0000 of cluster on
// endpoint 1 until a new message on topic matches: after a restart,
// Zigbee2MQTT says it resumed before it listens to the network, and a real
// device reports again later, as this does every 3 s.
func reportSeen(t *testing.T, emu *coordinator.Emulator, w *mqtttest.Client, dev string, cluster uint16, value any, topic string, match func(mqtttest.Msg) bool) {
	t.Helper()
	w.Reset()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if err := emu.SetAttribute(ieee(t, dev), 1, cluster, 0x0000, value); err != nil {
			t.Fatal(err)
		}
		for next := time.Now().Add(3 * time.Second); time.Now().Before(next); time.Sleep(50 * time.Millisecond) {
			if w.Count(topic, match) > 0 {
				return
			}
		}
	}
	t.Fatalf("no matching message on %s within 30 s of reports", topic)
}

// z2mPID is the process id of the Zigbee2MQTT the supervisor started last.
func z2mPID(t *testing.T, p *proc) int {
	t.Helper()
	m := regexp.MustCompile(`zigbee2mqtt started .*pid=(\d+)`).FindAllStringSubmatch(p.Output(), -1)
	if m == nil {
		t.Fatal("no \"zigbee2mqtt started\" line with a pid in the log")
	}
	pid, _ := strconv.Atoi(m[len(m)-1][1])
	return pid
}

// waitResumed waits until Zigbee2MQTT has resumed the existing network n
// times.
func waitResumed(t *testing.T, p *proc, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(p.Output(), "zigbee-herdsman started (resumed)") < n {
		if time.Now().After(deadline) {
			t.Fatalf("Zigbee2MQTT did not resume the network (%d times wanted)", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func equals(want float64) func(float64) bool {
	return func(got float64) bool { return got == want }
}

// waitConfigured waits until the definition's configure, after the
// interview, has configured reporting of the attribute: a real device
// reports only then, and Zigbee2MQTT is ready for the report.
func waitConfigured(t *testing.T, emu *coordinator.Emulator, dev string, ep byte, cluster, attr uint16) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if emu.Reporting(ieee(t, dev), ep, cluster, attr) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("reporting of 0x%04x/0x%04x on %s was never configured", cluster, attr, dev)
}

func asNumber(v any) float64 {
	f, _ := v.(float64)
	return f
}
