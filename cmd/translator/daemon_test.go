//go:build integration

package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/mqtttest"
	"github.com/tidwall/gjson"
)

// The tests drive the real binary against a real Mosquitto, the way the
// platform runs it: environment variables, an instance JSON, MQTT in and out.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "translator-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "translator")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build translator: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	lampIEEE   = "0x000d6ffffe1a2b3c"
	lampName   = "living room/lamp"
	prefix     = "IoT2mqtt/v1/instances/zb1/"
	lampPrefix = prefix + "devices/" + lampIEEE + "/"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// proc is a running translator.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

// Output is everything the process logged so far.
func (p *proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// startTranslator runs the binary with the platform's environment and an
// instance JSON, as the instance its instance_id names (default zb1); env
// entries override the defaults.
func startTranslator(t *testing.T, b *mqtttest.Broker, instanceJSON string, env ...string) *proc {
	t.Helper()
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, "instances"), 0o755); err != nil {
		t.Fatal(err)
	}
	id := "zb1"
	if v := gjson.Get(instanceJSON, "instance_id").String(); v != "" {
		id = v
	}
	if err := os.WriteFile(filepath.Join(home, "instances", id+".json"), []byte(instanceJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"INSTANCE_NAME=" + id,
		"IOT2MQTT_PATH=" + home,
		"MQTT_HOST=127.0.0.1",
		"MQTT_PORT=" + strconv.Itoa(b.Port),
		"LOG_LEVEL=DEBUG",
	}, env...)
	return startProcess(t, cmd)
}

// startProcess starts cmd, collecting its output, and stops it when the
// test ends: SIGTERM first, so that a supervised Zigbee2MQTT is stopped
// too, then SIGKILL after 15 s.
func startProcess(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{t: t, cmd: cmd, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			p.signal(syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(cmd.Path), p.Output())
		}
	})
	return p
}

// logged waits up to 5 s for substr in the output: the log and the MQTT
// traffic travel separately, so a published error can arrive first.
func (p *proc) logged(substr string) bool {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if strings.Contains(p.Output(), substr) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

func (p *proc) signal(s syscall.Signal) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(s)
	}
}

// wait waits for exit and returns the exit code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("translator did not exit within %s", timeout)
	}
	if p.err == nil {
		return 0
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

const minimalInstance = `{"instance_id":"zb1","connector_type":"zigbee2mqtt","friendly_name":"Zigbee","connection":{},"devices":[],"enabled":true}`

func jsonField(t *testing.T, payload, path string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(payload), &v); err != nil {
		t.Fatalf("payload is not JSON: %v: %s", err, payload)
	}
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func hasField(path string, want any) func(mqtttest.Msg) bool {
	return func(m mqtttest.Msg) bool {
		var v any
		if json.Unmarshal([]byte(m.Payload), &v) != nil {
			return false
		}
		for _, k := range strings.Split(path, ".") {
			mm, ok := v.(map[string]any)
			if !ok {
				return false
			}
			v = mm[k]
		}
		return fmt.Sprint(v) == fmt.Sprint(want)
	}
}

func payloadIs(s string) func(mqtttest.Msg) bool {
	return func(m mqtttest.Msg) bool { return m.Payload == s }
}

// setup starts a broker, a fake Zigbee2MQTT client holding the retained
// bridge topics of a network with one light, a watcher subscribed to
// everything, and the translator.
func setup(t *testing.T, instance string, env ...string) (*mqtttest.Broker, *mqtttest.Client, *mqtttest.Client, *proc) {
	t.Helper()
	b, z2m := brokerWithDevices(t, readFile(t, "../../translate/testdata/light_devices.json"))
	w := mqtttest.Connect(t, b.Addr, "watcher")
	w.Subscribe("IoT2mqtt/#", "zigbee2mqtt/#")
	p := startTranslator(t, b, instance, env...)
	w.WaitFor(prefix+"status", payloadIs("online"), 10*time.Second)
	w.WaitFor(prefix+"meta/devices_list", func(m mqtttest.Msg) bool { return strings.Contains(m.Payload, lampIEEE) }, 5*time.Second)
	return b, z2m, w, p
}

// brokerWithDevices starts a broker (with extraConf) holding an online
// bridge and devices as the retained device list; it returns the broker and
// the client playing Zigbee2MQTT.
func brokerWithDevices(t *testing.T, devices string, extraConf ...string) (*mqtttest.Broker, *mqtttest.Client) {
	t.Helper()
	b := mqtttest.StartBroker(t, extraConf...)
	z2m := mqtttest.Connect(t, b.Addr, "fake-z2m")
	z2m.Publish("zigbee2mqtt/bridge/state", `{"state":"online"}`, true)
	z2m.Publish("zigbee2mqtt/bridge/devices", devices, true)
	return b, z2m
}

func TestDaemon_LightEndToEnd(t *testing.T) {
	_, z2m, w, _ := setup(t, minimalInstance)
	list := w.WaitFor(prefix+"meta/devices_list", func(m mqtttest.Msg) bool { return strings.Contains(m.Payload, lampIEEE) }, time.Second)
	var devices []map[string]any
	if err := json.Unmarshal([]byte(list.Payload), &devices); err != nil || len(devices) != 1 {
		t.Fatalf("devices_list = %s, want a bare array with one device", list.Payload)
	}
	want := map[string]any{"device_id": lampIEEE, "global_id": "zb1_" + lampIEEE, "model": "LED1545G12", "enabled": true,
		"online": true, "friendly_name": lampName, "vendor": "IKEA", "type": "Router"}
	for k, v := range want {
		if got := devices[0][k]; fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("devices_list[0].%s = %v, want %v", k, got, v)
		}
	}
	if !list.Retain || list.QoS != 1 {
		t.Errorf("devices_list retain=%v qos=%d, want retained QoS 1", list.Retain, list.QoS)
	}

	// State in: a Zigbee2MQTT light state becomes the IoT2MQTT envelope.
	z2m.Publish("zigbee2mqtt/"+lampName, `{"state":"ON","brightness":254,"color_temp":370,"linkquality":120}`, false)
	st := w.WaitFor(lampPrefix+"state", hasField("state.power", true), 5*time.Second)
	if !st.Retain || st.QoS != 1 {
		t.Errorf("state retain=%v qos=%d, want retained QoS 1", st.Retain, st.QoS)
	}
	for path, want := range map[string]any{"device_id": lampIEEE, "state.brightness": 100.0, "state.color_temp": 2703.0,
		"state.link_quality": 120.0, "state.online": true} {
		if got := jsonField(t, st.Payload, path); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("state %s = %v, want %v (%s)", path, got, want, st.Payload)
		}
	}
	if ts, _ := jsonField(t, st.Payload, "timestamp").(string); ts == "" {
		t.Errorf("state has no timestamp: %s", st.Payload)
	}
	key := w.WaitFor(lampPrefix+"state/brightness", nil, time.Second)
	if key.Payload != "100" || !key.Retain {
		t.Errorf("state/brightness = %q retain=%v, want retained 100", key.Payload, key.Retain)
	}

	// Command in: values become a Zigbee2MQTT set; the echo confirms it.
	w.Publish(lampPrefix+"cmd", `{"id":"cmd-1","values":{"power":false,"brightness":50}}`, false)
	set := w.WaitFor("zigbee2mqtt/"+lampName+"/set", nil, 5*time.Second)
	if got, want := set.Payload, `{"state":"OFF","brightness":127}`; got != want {
		t.Errorf("set payload = %s, want %s", got, want)
	}
	if set.Retain {
		t.Error("set is retained")
	}
	z2m.Publish("zigbee2mqtt/"+lampName, `{"state":"OFF","brightness":127,"color_temp":370,"linkquality":118}`, false)
	resp := w.WaitFor(lampPrefix+"cmd/response", hasField("cmd_id", "cmd-1"), 5*time.Second)
	if got := jsonField(t, resp.Payload, "status"); got != "success" {
		t.Errorf("cmd/response status = %v, want success (%s)", got, resp.Payload)
	}
	if resp.Retain {
		t.Error("cmd/response is retained")
	}
	w.WaitFor(lampPrefix+"state", hasField("state.power", false), 5*time.Second)
}

func TestDaemon_ConfigErrors(t *testing.T) {
	b := mqtttest.StartBroker(t)
	cases := []struct {
		name string
		env  []string
		want string
	}{
		{"no instance name", []string{"INSTANCE_NAME="}, "INSTANCE_NAME"},
		{"bad port", []string{"MQTT_PORT=99999"}, "MQTT_PORT"},
		{"bad qos", []string{"MQTT_QOS=3"}, "MQTT_QOS"},
		{"bad log level", []string{"LOG_LEVEL=LOUD"}, "LOG_LEVEL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := startTranslator(t, b, minimalInstance, tc.env...)
			if code := p.wait(10 * time.Second); code != 2 {
				t.Errorf("exit code = %d, want 2", code)
			}
			if !strings.Contains(p.Output(), tc.want) {
				t.Errorf("output does not name %s:\n%s", tc.want, p.Output())
			}
		})
	}
	t.Run("bad instance JSON", func(t *testing.T) {
		p := startTranslator(t, b, `{"connection":{"channel":40,"serial_port":"tcp://127.0.0.1:1","adapter":"zigbee"},"devices":[{"ieee":"nope"}]}`)
		if code := p.wait(10 * time.Second); code != 2 {
			t.Errorf("exit code = %d, want 2", code)
		}
		for _, want := range []string{"channel", "adapter", "devices[0].ieee"} {
			if !strings.Contains(p.Output(), want) {
				t.Errorf("output does not name %s:\n%s", want, p.Output())
			}
		}
	})
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// metricValue reads one unlabelled series from the daemon's /metrics.
func metricValue(addr, name string) (float64, bool) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// waitMetric polls /metrics until name is present and ok accepts its value.
func waitMetric(t *testing.T, addr, name string, ok func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if v, found := metricValue(addr, name); found && ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics on %s: no acceptable %s within 10 s", addr, name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rssKB is a process's resident set size.
func rssKB(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// An instance JSON that names an adapter but no serial_port runs in
// translator-only mode and says so in the log, instead of exiting.
func TestDaemon_AdapterWithoutSerialPort(t *testing.T) {
	const instance = `{"instance_id":"zb1","connector_type":"zigbee2mqtt","connection":{"adapter":"zstack"},"devices":[],"enabled":true}`
	_, _, w, p := setup(t, instance)
	if !p.logged("adapter is set but serial_port is not: translator-only mode") {
		t.Errorf("no log line for the adapter without serial_port:\n%s", p.Output())
	}
	info := w.WaitFor(prefix+"meta/info", hasField("mode", "translator-only"), 5*time.Second)
	if info.Payload == "" {
		t.Error("meta/info does not say translator-only")
	}
	select {
	case <-p.done:
		t.Fatalf("translator exited: %v\n%s", p.err, p.Output())
	default:
	}
}
