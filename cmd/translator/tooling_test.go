//go:build integration

package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/mqtttest"
)

// copyPack copies the shipped mapping pack into a directory the test may edit.
func copyPack(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	paths, _ := filepath.Glob("../../mappings/*.yaml")
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDaemon_HotReload(t *testing.T) {
	pack := copyPack(t)
	_, z2m, w, p := setup(t, minimalInstance, "MAPPINGS_DIR="+pack)
	z2m.Publish("zigbee2mqtt/"+lampName, `{"state":"ON","linkquality":90}`, false)
	w.WaitFor(lampPrefix+"state", hasField("state.link_quality", 90), 5*time.Second)

	// A valid change, applied through meta/request/reload.
	extra := "# renames link quality\nblocks:\n  - name: lqi\n    rules:\n      - {from: linkquality, to: lqi, direction: read}\n"
	if err := os.WriteFile(filepath.Join(pack, "90-local.yaml"), []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	w.Publish(prefix+"meta/request/reload", "", false)
	p.logged("mapping rules reloaded")
	z2m.Publish("zigbee2mqtt/"+lampName, `{"state":"ON","linkquality":91}`, false)
	w.WaitFor(lampPrefix+"state", hasField("state.lqi", 91), 5*time.Second)

	// A broken change, through SIGHUP: the error is published, the old rules stay.
	broken := "blocks:\n  - name: lqi\n    rules:\n      - {from: linkquality, too: lqi}\n"
	if err := os.WriteFile(filepath.Join(pack, "90-local.yaml"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGHUP)
	e := w.WaitFor(prefix+"error", hasField("error_code", "RELOAD_FAILED"), 5*time.Second)
	if !strings.Contains(e.Payload, "90-local.yaml:4:") || !strings.Contains(e.Payload, "too") {
		t.Errorf("reload error does not name file, line and field: %s", e.Payload)
	}
	z2m.Publish("zigbee2mqtt/"+lampName, `{"state":"ON","linkquality":92}`, false)
	w.WaitFor(lampPrefix+"state", hasField("state.lqi", 92), 5*time.Second)
}

func TestDaemon_CoverageAndExplain(t *testing.T) {
	_, z2m, w, _ := setup(t, minimalInstance)
	z2m.Publish("zigbee2mqtt/"+lampName, `{"state":"ON","brightness":254,"mystery":1,"action":"single"}`, false)
	w.WaitFor(lampPrefix+"state", nil, 5*time.Second)

	w.Publish(prefix+"meta/request/coverage", "", false)
	cov := w.WaitFor(prefix+"meta/coverage", nil, 5*time.Second)
	var report struct {
		Devices []struct {
			DeviceID   string `json:"device_id"`
			Properties []struct {
				Property, Status, To, Rule, Layer string
			} `json:"properties"`
			SeenNotExposed []string `json:"seen_not_exposed"`
		} `json:"devices"`
	}
	if err := json.Unmarshal([]byte(cov.Payload), &report); err != nil || len(report.Devices) != 1 {
		t.Fatalf("coverage = %s (%v)", cov.Payload, err)
	}
	got := map[string]string{}
	for _, p := range report.Devices[0].Properties {
		got[p.Property] = p.Status + ":" + p.To + ":" + p.Layer
	}
	want := map[string]string{"state": "mapped:power:pack", "brightness": "mapped:brightness:pack", "power_on_behavior": "generic:power_on_behavior:generic", "effect": "generic:effect:generic"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("coverage of %s = %s, want %s", k, got[k], v)
		}
	}
	if s := strings.Join(report.Devices[0].SeenNotExposed, ","); s != "action,mystery" {
		t.Errorf("seen but not exposed = %s, want action,mystery", s)
	}

	w.Publish(prefix+"meta/request/explain", `{"device_id":"`+lampIEEE+`","last":1}`, false)
	ex := w.WaitFor(prefix+"meta/explain", nil, 5*time.Second)
	for _, want := range []string{`"key":"brightness"`, `"steps":[100]`, `"to":"power"`, `"rule":"`, `event`} {
		if !strings.Contains(ex.Payload, want) {
			t.Errorf("explain lacks %s: %s", want, ex.Payload)
		}
	}
}

// The daemon runs on one P unless GOMAXPROCS says otherwise.
func TestDaemon_GOMAXPROCSIsHonoured(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	setup(t, minimalInstance, "GOMAXPROCS=3", "HTTP_ADDR="+addr)
	if v := waitMetric(t, addr, "go_gomaxprocs", func(float64) bool { return true }); v != 3 {
		t.Errorf("go_gomaxprocs = %v with GOMAXPROCS=3, want 3", v)
	}
}

func TestDaemon_MetricsAndHealth(t *testing.T) {
	_, z2m, w, p := setup(t, minimalInstance)
	z2m.Publish("zigbee2mqtt/"+lampName, `{"state":"ON"}`, false)
	w.WaitFor(lampPrefix+"state", nil, 5*time.Second)
	addr := regexp.MustCompile(`http listening for /health and /metrics addr=(\S+)`).FindStringSubmatch(p.Output())
	if addr == nil {
		t.Fatalf("no http address in the log:\n%s", p.Output())
	}
	if !strings.HasPrefix(addr[1], "127.0.0.1:") {
		t.Errorf("http listens on %s, want loopback", addr[1])
	}
	resp, err := http.Get("http://" + addr[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`translator_messages_in_total{kind="state"} 1`,
		`translator_rule_applications_total{rule="`,
		`translator_translation_latency_seconds_count`,
		`translator_mqtt_reconnects_total 0`,
		`translator_upstream_restarts_total 0`,
		`translator_mqtt_connected 1`,
		`translator_state_key_interval_seconds 0.1`, // idle: neither behind nor pressed
		`go_gomaxprocs 1`,                           // the daemon's default, see TestDaemon_GOMAXPROCSIsHonoured
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	resp, err = http.Get("http://" + addr[1] + "/health")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		OK      bool   `json:"ok"`
		MQTT    string `json:"mqtt"`
		Process string `json:"process"`
		Bridge  string `json:"bridge"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if !st.OK || st.MQTT != "connected" || st.Process != "not_applicable" || st.Bridge != "online" || resp.StatusCode != 200 {
		t.Errorf("health = %+v (HTTP %d), want ok", st, resp.StatusCode)
	}
	out, err := exec.Command(binary, "health", "-addr", addr[1]).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok=true") {
		t.Errorf("translator health = %v: %s", err, out)
	}
	if out, err := exec.Command(binary, "health", "-addr", "127.0.0.1:1").CombinedOutput(); err == nil {
		t.Errorf("translator health succeeded without a daemon: %s", out)
	}
}

func TestCheck_AgainstExposes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(`# a pack with mistakes check must find
blocks:
  - name: radiator
    select: {model: [TS0601_thermostat]}
    rules:
      - from: child_lock
        to: locked
        transform: [{map: {"LOCKED": true, "UNLOCKED": false}}]
      - from: local_temperature
        to: temp_f
        transform: [{unit: {from: "°F", to: "°C"}}]
      - from: running_state
        to: running
        direction: write
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "check", "-devices", "../../test/catalog/devices.json", bad).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("check exit = %v, want 1\n%s", err, out)
	}
	for _, want := range []string{
		bad + `:6:9: error: bedroom/radiator (TS0601_thermostat) "child_lock": map label "LOCKED" is not one of the expose's values`,
		bad + `:9:9: error: bedroom/radiator (TS0601_thermostat) "local_temperature": unit transform converts from a unit other than the expose's "°C"`,
		bad + `:12:9: error: bedroom/radiator (TS0601_thermostat) "running_state": the rule writes a property without the set access bit`,
		"coverage 0xa4c138d2e3f4a5b6 (bedroom/radiator, TS0601_thermostat):",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	out, err = exec.Command(binary, "check", "-format", "json", "-devices", "../../test/catalog/devices.json", "../../mappings/10-lights.yaml").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"errors": 0`) {
		t.Errorf("json check of the shipped light pack = %v:\n%.400s", err, out)
	}
}

func TestCheck_LiveBroker(t *testing.T) {
	b := mqtttest.StartBroker(t)
	z2m := mqtttest.Connect(t, b.Addr, "fake-z2m")
	z2m.Publish("zigbee2mqtt/bridge/devices", readFile(t, "../../translate/testdata/light_devices.json"), true)
	out, err := exec.Command(binary, "check", "-broker", "mqtt://"+b.Addr, "../../mappings/10-lights.yaml").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "coverage "+lampIEEE) {
		t.Errorf("check -broker = %v:\n%s", err, out)
	}
}
