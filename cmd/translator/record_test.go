//go:build integration

package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/mqtttest"
)

// TestRecordThenReplay records live traffic into a fixture (redacted and
// anonymised), replays it to write the expectations, then checks that a
// changed expectation makes replay fail with a diff.
func TestRecordThenReplay(t *testing.T) {
	b := mqtttest.StartBroker(t)
	z2m := mqtttest.Connect(t, b.Addr, "fake-z2m")
	z2m.Publish("zigbee2mqtt/bridge/info", `{"version":"2.14.1","config":{"advanced":{"network_key":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16],"pan_id":6754}}}`, true)
	z2m.Publish("zigbee2mqtt/bridge/devices", readFile(t, "../../translate/testdata/light_devices.json"), true)
	z2m.Publish("zigbee2mqtt/bridge/definitions", `{"clusters":{"genBasic":{"ID":0}},"custom_clusters":{}}`, true)
	dir := filepath.Join(t.TempDir(), "fixture")
	rec := exec.Command(binary, "record", "-broker", "mqtt://"+b.Addr, "-duration", "2s", "-commands", "IoT2mqtt", "-anonymize", dir)
	out := &strings.Builder{}
	rec.Stdout, rec.Stderr = out, out
	if err := rec.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	z2m.Publish("zigbee2mqtt/"+lampName, `{"state":"ON","brightness":254}`, false)
	z2m.Publish(prefix+"devices/"+lampIEEE+"/cmd", `{"id":"r1","values":{"power":false}}`, false)
	if err := rec.Wait(); err != nil {
		t.Fatalf("record: %v\n%s", err, out)
	}
	input, err := os.ReadFile(filepath.Join(dir, "input.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(input)
	for _, leak := range []string{lampIEEE, lampName, "[1,2,3,4", "bridge/definitions"} {
		if strings.Contains(text, leak) {
			t.Errorf("recording still contains %q", leak)
		}
	}
	for _, want := range []string{`"network_key":"REDACTED"`, `"topic":"zigbee2mqtt/device_1"`, `0x0000000000000001`, `/cmd"`} {
		if !strings.Contains(text, want) {
			t.Errorf("recording lacks %s:\n%s", want, text)
		}
	}
	if out, err := exec.Command(binary, "replay", "-update", dir).CombinedOutput(); err != nil {
		t.Fatalf("replay -update: %v\n%s", err, out)
	}
	if out, err := exec.Command(binary, "replay", dir).CombinedOutput(); err != nil || !strings.Contains(string(out), "ok ") {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	expected := filepath.Join(dir, "expected.jsonl")
	data, _ := os.ReadFile(expected)
	if !strings.Contains(string(data), `"power":true`) {
		t.Fatalf("expected publications lack the translated state:\n%s", data)
	}
	if err := os.WriteFile(expected, []byte(strings.Replace(string(data), `"power":true`, `"power":"yes"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	diff, err := exec.Command(binary, "replay", dir).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("replay of a changed expectation: %v, want exit 1\n%s", err, diff)
	}
	if !strings.Contains(string(diff), `- {`) || !strings.Contains(string(diff), `+ {`) {
		t.Errorf("no diff printed:\n%s", diff)
	}
}
