//go:build integration

package main_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/mqtttest"
	"github.com/iot2mqtt/zigbee2mqtt-translator/upstream"
)

// TestDaemon_EmbeddedUnreachableAdapter runs the real, pinned Zigbee2MQTT
// with a generated configuration whose tcp:// adapter does not answer.
func TestDaemon_EmbeddedUnreachableAdapter(t *testing.T) {
	z2mEnv := installedZigbee2MQTT(t)
	b := mqtttest.StartBroker(t)
	w := mqtttest.Connect(t, b.Addr, "watcher")
	w.Subscribe("IoT2mqtt/#", "zigbee2mqtt_zb1/bridge/request/#")
	adapterPort := mqtttest.FreePort(t) // nothing listens here
	data := filepath.Join(t.TempDir(), "z2m-data")
	instance := `{"instance_id":"zb1","connection":{"serial_port":"tcp://127.0.0.1:` + strconv.Itoa(adapterPort) + `","adapter":"zstack",` +
		`"channel":15,"pan_id":"0x1a62","ext_pan_id":"dddddddddddddddd","network_key":"0102030405060708090a0b0c0d0e0f10","permit_join_seconds":30,"data_dir":"` + data + `"}}`
	p := startTranslator(t, b, instance, z2mEnv)
	w.WaitFor(prefix+"status", payloadIs("online"), 20*time.Second)

	// Zigbee2MQTT accepted the configuration: it got past settings
	// validation and tried the adapter.
	deadline := time.Now().Add(60 * time.Second)
	tried := "Opening TCP socket with 127.0.0.1:" + strconv.Itoa(adapterPort)
	for time.Now().Before(deadline) && !strings.Contains(p.Output(), tried) {
		time.Sleep(200 * time.Millisecond)
	}
	out := p.Output()
	for _, want := range []string{"Starting Zigbee2MQTT version " + upstream.Z2MVersion, tried, "ECONNREFUSED"} {
		if !strings.Contains(out, want) {
			t.Fatalf("zigbee2mqtt log lacks %q", want)
		}
	}
	if strings.Contains(out, "network_key") && strings.Contains(out, "0102030405060708090a0b0c0d0e0f10") {
		t.Error("the network key appears in the log")
	}
	// The failure is reported and Zigbee2MQTT restarted with backoff.
	// (The backoff durations themselves are tested in upstream with a fake child.)
	for _, n := range []string{"restart 1", "restart 2"} {
		w.WaitFor(prefix+"error", func(m mqtttest.Msg) bool {
			return hasField("error_code", "UPSTREAM_CRASH")(m) && strings.Contains(m.Payload, n)
		}, 60*time.Second)
	}
	if _, err := os.Stat(filepath.Join(data, "configuration.yaml")); err != nil {
		t.Errorf("configuration.yaml not written: %v", err)
	}
	// The daemon stays online and answers what it can.
	w.Publish(prefix+"meta/request/info", "", false)
	w.WaitFor(prefix+"meta/info", hasField("zigbee2mqtt_version", upstream.Z2MVersion), 10*time.Second)
	// When Zigbee2MQTT's bridge comes online, joining is permitted for
	// permit_join_seconds (simulated here: the adapter never answers).
	w.Publish("zigbee2mqtt_zb1/bridge/state", `{"state":"online"}`, true)
	pj := w.WaitFor("zigbee2mqtt_zb1/bridge/request/permit_join", nil, 10*time.Second)
	if pj.Payload != `{"time":30}` {
		t.Errorf("permit_join request = %s, want {\"time\":30}", pj.Payload)
	}
	if n := w.Count(prefix+"status", payloadIs("offline")); n != 0 {
		t.Errorf("status went offline %d times while zigbee2mqtt crashed", n)
	}
}
