//go:build integration

package main_test

import (
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
)

// container lays out what the platform gives a connector container: the
// image's /app with read-only instances/, shared/ and .env, the platform's
// five environment variables, and the image's own ENV and PATH.
type container struct {
	app, name, bin string
	env            []string
}

// newContainer writes the layout under a temporary /app for instance name.
func newContainer(t *testing.T, b *mqtttest.Broker, name, instanceJSON string) *container {
	t.Helper()
	c := &container{app: t.TempDir(), name: name, bin: t.TempDir()}
	if err := os.Symlink(binary, filepath.Join(c.bin, "translator")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"instances", "shared"} {
		if err := os.MkdirAll(filepath.Join(c.app, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c.writeInstance(t, instanceJSON)
	dotenv := "# MQTT\nMQTT_HOST=127.0.0.1\nMQTT_PORT=" + strconv.Itoa(b.Port) + "\nMQTT_BASE_TOPIC=IoT2mqtt\nLOG_LEVEL=INFO\nTZ=UTC\n"
	if err := os.WriteFile(filepath.Join(c.app, ".env"), []byte(dotenv), 0o444); err != nil {
		t.Fatal(err)
	}
	c.env = []string{
		// The platform's environment.
		"INSTANCE_NAME=" + name,
		"CONNECTOR_TYPE=zigbee2mqtt",
		"MODE=production",
		"PYTHONUNBUFFERED=1",
		"IOT2MQTT_PATH=" + c.app,
		// The image's ENV and PATH.
		installedZigbee2MQTT(t),
		"PATH=" + c.bin + ":/usr/local/bin:/usr/bin:/bin",
	}
	return c
}

// writeInstance replaces the instance file, as the platform does on the
// host when an instance is edited; in the container it is read-only.
func (c *container) writeInstance(t *testing.T, instanceJSON string) {
	t.Helper()
	dir := filepath.Join(c.app, "instances")
	_ = os.Chmod(dir, 0o755)
	path := filepath.Join(dir, c.name+".json")
	_ = os.Remove(path)
	if err := os.WriteFile(path, []byte(instanceJSON), 0o444); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Join(c.app, "shared")} {
		if err := os.Chmod(d, 0o555); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o755); _ = os.Chmod(filepath.Join(c.app, "shared"), 0o755) })
}

// start runs the image's entrypoint with the container's environment only.
func (c *container) start(t *testing.T) *proc {
	t.Helper()
	entrypoint, err := filepath.Abs(filepath.Join("..", "..", "entrypoint.sh"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", entrypoint)
	cmd.Env = c.env
	cmd.Dir = c.app
	return startProcess(t, cmd)
}

// mounts lists every file under the read-only mounts with its size and
// modification time.
func (c *container) mounts(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, root := range []string{"instances", "shared", ".env"} {
		err := filepath.Walk(filepath.Join(c.app, root), func(path string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			b.WriteString(path + " " + strconv.FormatInt(info.Size(), 10) + " " + info.ModTime().String() + "\n")
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func embeddedInstance(name, port, panID, dataDir string) string {
	data := ""
	if dataDir != "" {
		data = `,"data_dir":"` + dataDir + `"`
	}
	return `{"instance_id":"` + name + `","connector_type":"zigbee2mqtt","friendly_name":"` + name + `","enabled":true,"devices":[],` +
		`"connection":{"serial_port":"tcp://` + port + `","adapter":"zstack","channel":15,"pan_id":"` + panID + `",` +
		`"ext_pan_id":"dddddddddddddddd","network_key":"0102030405060708090a0b0c0d0e0f10","z2m_base_topic":""` + data + `}}`
}

// TestDaemon_TwoEmbeddedInstances runs two embedded instances on one
// broker, each with its own emulated coordinator: one the way the tests
// start the daemon, one through the image's entrypoint with the platform's
// read-only mounts and environment. Each Zigbee2MQTT gets a base topic of
// its own, and no device of one instance appears in the other. Then the
// second instance's pan_id is changed, and the identity guard refuses to
// start it.
func TestDaemon_TwoEmbeddedInstances(t *testing.T) {
	z2mEnv := installedZigbee2MQTT(t)
	b := mqtttest.StartBroker(t)
	w := mqtttest.Connect(t, b.Addr, "watcher")
	w.Subscribe("IoT2mqtt/#", "+/bridge/state")

	emuA := startCoordinator(t, filepath.Join(t.TempDir(), "a.json"))
	emuB := startCoordinator(t, filepath.Join(t.TempDir(), "b.json"))
	startTranslator(t, b, embeddedInstance("zb1", emuA.Addr(), "0x1a62", filepath.Join(t.TempDir(), "z2m")),
		z2mEnv)
	c := newContainer(t, b, "zigbee2mqtt_k3j9x2", embeddedInstance("zigbee2mqtt_k3j9x2", emuB.Addr(), "0x1a63", ""))
	before := c.mounts(t)
	zb2 := c.start(t)

	// Each Zigbee2MQTT is online under a base topic of its own.
	prefixA, prefixB := prefix, "IoT2mqtt/v1/instances/zigbee2mqtt_k3j9x2/"
	for _, topic := range []string{"zigbee2mqtt_zb1/bridge/state", "zigbee2mqtt_k3j9x2/bridge/state"} {
		w.WaitFor(topic, func(m mqtttest.Msg) bool { return strings.Contains(m.Payload, "online") && m.Retain }, 90*time.Second)
	}
	for _, pfx := range []string{prefixA, prefixB} {
		w.WaitFor(pfx+"meta/info", func(m mqtttest.Msg) bool {
			return hasField("mode", "embedded")(m) && hasField("bridge_online", true)(m)
		}, 30*time.Second)
	}
	if _, err := os.Stat(filepath.Join(c.app, "data", "configuration.yaml")); err != nil {
		t.Errorf("the container's Zigbee2MQTT has no configuration in /app/data: %v", err)
	}

	// The bulb joins the first network, the sensor the second.
	joins := []struct {
		pfx, ieee, other string
		emu              *coordinator.Emulator
	}{
		{prefixA, bulbIEEE, sensorIEEE, emuA},
		{prefixB, sensorIEEE, bulbIEEE, emuB},
	}
	for _, j := range joins {
		w.Publish(j.pfx+"devices/bridge/cmd", `{"id":"pj","values":{"permit_join":60}}`, false)
		if r := w.WaitFor(j.pfx+"devices/bridge/cmd/response", hasField("cmd_id", "pj"), 20*time.Second); !strings.Contains(r.Payload, `"success"`) {
			t.Fatalf("permit_join on %s: %s", j.pfx, r.Payload)
		}
		if err := j.emu.Join(ieee(t, j.ieee)); err != nil {
			t.Fatal(err)
		}
	}
	for _, j := range joins {
		list := w.WaitFor(j.pfx+"meta/devices_list", func(m mqtttest.Msg) bool {
			return strings.Contains(m.Payload, j.ieee) && !strings.Contains(m.Payload, `"model":"unknown"`)
		}, 60*time.Second)
		if strings.Contains(list.Payload, j.other) {
			t.Errorf("%s devices_list holds the other instance's device %s: %s", j.pfx, j.other, list.Payload)
		}
		if n := w.Count(j.pfx+"devices/"+j.other+"/state", nil); n != 0 {
			t.Errorf("%s published %d states of the other instance's device %s", j.pfx, n, j.other)
		}
	}
	if after := c.mounts(t); after != before {
		t.Errorf("the read-only mounts changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// The platform restarts the container after an edit that changes the
	// pan_id: the identity guard refuses, and Zigbee2MQTT is not started.
	zb2.signal(syscall.SIGTERM)
	if code := zb2.wait(30 * time.Second); code != 0 {
		t.Fatalf("the container's translator exited %d on SIGTERM, want 0", code)
	}
	c.writeInstance(t, embeddedInstance("zigbee2mqtt_k3j9x2", emuB.Addr(), "0x2b00", ""))
	refused := c.start(t)
	if code := refused.wait(30 * time.Second); code == 0 {
		t.Error("the translator started with a changed pan_id")
	}
	out := refused.Output()
	for _, want := range []string{"pan_id", "reset_network: true"} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal does not name %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "zigbee2mqtt started") {
		t.Error("Zigbee2MQTT was started despite the identity mismatch")
	}

	// The other instance is untouched: a report still becomes state.
	for _, on := range []bool{false, true} {
		w.Reset()
		if err := emuA.SetAttribute(ieee(t, bulbIEEE), 1, 0x0006, 0x0000, on); err != nil {
			t.Fatal(err)
		}
		w.WaitFor(prefixA+"devices/"+bulbIEEE+"/state", hasField("state.power", on), 20*time.Second)
	}
}
