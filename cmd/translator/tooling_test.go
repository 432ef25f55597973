//go:build integration

package main_test

import (
	"encoding/json"
	"fmt"
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

// TestDaemon_HotReload: custom files in the mappings folder add to the
// built-in pack; a reload applies them at once (a renamed key leaves the
// envelope and its retained state/{key} topic); a reload that does not
// compile, or does not fit the known devices, keeps the previous rules.
func TestDaemon_HotReload(t *testing.T) {
	custom := t.TempDir()
	b, z2m, w, p := setup(t, minimalInstance, "MAPPINGS_DIR="+custom)
	z2m.Publish("zigbee2mqtt/"+lampName, `{"state":"ON","linkquality":90}`, false)
	w.WaitFor(lampPrefix+"state", hasField("state.link_quality", 90), 5*time.Second)
	w.WaitFor(lampPrefix+"state/link_quality", payloadIs("90"), 5*time.Second)

	// A valid change, applied through meta/request/reload: the envelope
	// changes without waiting for the device, and the old key is cleared.
	extra := "# renames link quality\nblocks:\n  - name: lqi\n    rules:\n      - {from: linkquality, to: lqi, direction: read}\n"
	if err := os.WriteFile(filepath.Join(custom, "90-local.yaml"), []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	w.Publish(prefix+"meta/request/reload", "", false)
	env := w.WaitFor(lampPrefix+"state", hasField("state.lqi", 90), 5*time.Second)
	if strings.Contains(env.Payload, "link_quality") {
		t.Errorf("the envelope after the reload still carries link_quality: %s", env.Payload)
	}
	if !p.logged("custom: " + filepath.Join(custom, "90-local.yaml")) {
		t.Errorf("the reload does not log the custom file")
	}
	// The clear of a state/{key} topic is spaced like its values: a reader
	// that comes a moment later finds nothing retained there.
	retained := func(id string) []mqtttest.Msg {
		late := mqtttest.Connect(t, b.Addr, id)
		late.Subscribe(lampPrefix+"state/lqi", lampPrefix+"state/link_quality")
		late.WaitFor(lampPrefix+"state/lqi", payloadIs("90"), 5*time.Second)
		time.Sleep(200 * time.Millisecond)
		var lq []mqtttest.Msg
		for _, m := range late.Messages() {
			if m.Topic == lampPrefix+"state/link_quality" && m.Payload != "" {
				lq = append(lq, m)
			}
		}
		return lq
	}
	for i := 0; ; i++ {
		lq := retained(fmt.Sprintf("late-reader-%d", i))
		if len(lq) == 0 {
			break
		}
		if i == 10 {
			t.Fatalf("state/link_quality is still retained after the reload renamed it: %v", lq)
		}
	}
	z2m.Publish("zigbee2mqtt/"+lampName, `{"state":"ON","linkquality":91}`, false)
	w.WaitFor(lampPrefix+"state", hasField("state.lqi", 91), 5*time.Second)

	// A broken change, through SIGHUP: the error is published, the old rules stay.
	broken := "blocks:\n  - name: lqi\n    rules:\n      - {from: linkquality, too: lqi}\n"
	if err := os.WriteFile(filepath.Join(custom, "90-local.yaml"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGHUP)
	e := w.WaitFor(prefix+"error", hasField("error_code", "RELOAD_FAILED"), 5*time.Second)
	if !strings.Contains(e.Payload, "90-local.yaml:4:") || !strings.Contains(e.Payload, "too") {
		t.Errorf("reload error does not name file, line and field: %s", e.Payload)
	}
	z2m.Publish("zigbee2mqtt/"+lampName, `{"state":"ON","linkquality":92}`, false)
	w.WaitFor(lampPrefix+"state", hasField("state.lqi", 92), 5*time.Second)

	// A change that compiles but does not fit the lamp: a label its expose
	// does not have. Refused, naming the map's line; the old rules stay.
	w.Reset()
	misfit := "blocks:\n  - name: lamp\n    select: {model: [LED1545G12]}\n    rules:\n      - from: state\n        to: power\n        transform: [{map: {AN: true, OFF: false}}]\n"
	if err := os.WriteFile(filepath.Join(custom, "90-local.yaml"), []byte(misfit), 0o644); err != nil {
		t.Fatal(err)
	}
	w.Publish(prefix+"meta/request/reload", "", false)
	e = w.WaitFor(prefix+"error", hasField("error_code", "RELOAD_FAILED"), 5*time.Second)
	if !strings.Contains(e.Payload, "90-local.yaml:7:") || !strings.Contains(e.Payload, `map label \"AN\" is not one of the expose's values`) {
		t.Errorf("reload error does not name the map's line and the label: %s", e.Payload)
	}
	z2m.Publish("zigbee2mqtt/"+lampName, `{"state":"ON","linkquality":93}`, false)
	w.WaitFor(lampPrefix+"state", hasField("state.lqi", 93), 5*time.Second)
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
		bad + `:8:27: error: bedroom/radiator (TS0601_thermostat) "child_lock": map label "LOCKED" is not one of the expose's values`,
		bad + `:11:28: error: bedroom/radiator (TS0601_thermostat) "local_temperature": unit transform converts from a unit other than the expose's "°C"`,
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

// Every subcommand documents itself: `-h` prints its usage and every flag
// with its default on stdout and exits 0; `translator help` lists them all.
func TestCLI_Help(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"help"}, []string{"check ", "replay ", "record ", "sandbox ", "pack ", "health ", "`translator <command> -h`"}},
		{[]string{"check", "-h"}, []string{"Usage: translator check", "-devices string", "-mappings string", "-replace-pack"}},
		{[]string{"help", "replay"}, []string{"Usage: translator replay", "-update", "-mappings string"}},
		{[]string{"sandbox", "-h"}, []string{"-fixture string", `(default "127.0.0.1:1883")`}},
		{[]string{"record", "-h"}, []string{"-broker string", "-duration"}},
		{[]string{"pack", "-h"}, []string{"Usage: translator pack export DIR"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := exec.Command(binary, tt.args...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("exit: %v\n%s", err, stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
		})
	}
	if out, err := exec.Command(binary, "check", "-nosuchflag").CombinedOutput(); err == nil || !strings.Contains(string(out), "check: flag provided but not defined: -nosuchflag") {
		t.Errorf("an unknown flag: %v\n%s", err, out)
	}
}

// `translator pack export` writes the built-in pack; checking the exported
// folder reports that its files replace their built-in namesakes.
func TestCLI_PackExport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mappings")
	out, err := exec.Command(binary, "pack", "export", dir).CombinedOutput()
	if err != nil || strings.Count(string(out), "wrote ") != 4 {
		t.Fatalf("pack export: %v\n%s", err, out)
	}
	out, err = exec.Command(binary, "check", "-mappings", dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "replaced by custom files of the same name") {
		t.Errorf("check of the exported pack: %v\n%s", err, out)
	}
}
