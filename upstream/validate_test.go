//go:build integration

package upstream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/iot2mqtt/zigbee2mqtt-translator/upstream"
)

// installDir returns the pinned Zigbee2MQTT install or skips the test.
func installDir(t *testing.T) string {
	t.Helper()
	dir, err := upstream.FindInstallDir()
	if err != nil {
		t.Skipf("Zigbee2MQTT %s is not installed (%v); run upstream/install.sh first", upstream.Z2MVersion, err)
	}
	return dir
}

func realSchema(t *testing.T) *upstream.Schema {
	t.Helper()
	s, err := upstream.LoadSchema(upstream.SchemaPath(installDir(t)))
	if err != nil {
		t.Fatalf("the pinned Zigbee2MQTT schema does not compile: %v", err)
	}
	return s
}

var mqttVariants = map[string]upstream.MQTTSettings{
	"anonymous": {Server: "mqtt://127.0.0.1:1883"},
	"tls": {
		Server: "mqtts://broker.example:8883", User: "u", Password: "p", ClientID: "c",
		KeepAlive: 30, Version: 5, CA: "/etc/ssl/ca.pem", Cert: "/etc/ssl/c.pem", Key: "/etc/ssl/c.key",
		InsecureSkipVerify: true,
	},
}

// renderExample renders an instance example the way the daemon does: the
// identity comes from ResolveIdentity (generated where unset).
func renderExample(t *testing.T, name string, m upstream.MQTTSettings) []byte {
	t.Helper()
	inst := parseExample(t, name)
	res, err := upstream.ResolveIdentity(t.TempDir(), inst)
	if err != nil {
		t.Fatalf("ResolveIdentity: %v", err)
	}
	res.Identity.ApplyTo(inst.Adapter)
	out, err := upstream.Render(inst, m)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return out
}

func TestRenderedExamplesValidate(t *testing.T) {
	schema := realSchema(t)
	for _, name := range instanceNames(t) {
		for variant, m := range mqttVariants {
			t.Run(name+"/"+variant, func(t *testing.T) {
				out := renderExample(t, name, m)
				if err := upstream.ValidateConfig(schema, out); err != nil {
					t.Errorf("rendered configuration is invalid: %v\n%s", err, upstream.Redacted(out))
				}
			})
		}
	}
}

// invalidCases mutate a valid rendered configuration.
var invalidCases = []struct {
	name   string
	mutate func(cfg map[string]any)
	want   string // substring of the error, naming the field
	extra  bool   // caught by the extra checks, not by the schema
}{
	{"channel too high", set("advanced.channel", 27), "advanced.channel: maximum: got 27, want 26", false},
	{"channel too low", set("advanced.channel", 10), "advanced.channel: minimum: got 10, want 11", false},
	{"adapter unknown", set("serial.adapter", "cc2531"), "serial.adapter: value must be one of 'deconz', 'zstack'", false},
	{"log level", set("advanced.log_level", "verbose"), "advanced.log_level: value must be one of", false},
	{"log output", set("advanced.log_output", []any{"console", "stdout"}), "advanced.log_output[1]: value must be one of", false},
	{"output", set("advanced.output", "xml"), "advanced.output: value must be one of", false},
	{"frontend port type", set("frontend.port", "8080"), "frontend.port: got string, want number", false},
	{"pan id range", set("advanced.pan_id", 70000), "advanced.pan_id: does not match any allowed form", false},
	{"mqtt server missing", del("mqtt.server"), "mqtt.server: is required", false},
	{"mqtt missing", del("mqtt"), "mqtt: is required", false},
	{"baudrate type", set("serial.baudrate", "fast"), "serial.baudrate: got string, want number", false},
	{"availability type", set("availability.enabled", "yes"), "availability.enabled: got string, want boolean", false},
	{"device key", set("devices", map[string]any{"kitchen": map[string]any{"friendly_name": "k"}}), "devices.kitchen: invalid key", false},
	{"namespaced level", set("advanced.log_namespaced_levels", map[string]any{"z2m": "loud"}), "advanced.log_namespaced_levels.z2m: value must be one of", false},
	{"network key string", set("advanced.network_key", "00112233445566778899aabbccddeeff"), `advanced.network_key: a string must be "GENERATE"`, true},
	{"network key length", set("advanced.network_key", []any{1, 2, 3}), "advanced.network_key: must be 16 bytes, got 3", true},
	{"ext pan id byte", set("advanced.ext_pan_id", []any{1, 2, 3, 4, 5, 6, 7, 300}), "advanced.ext_pan_id[7]: must be a byte", true},
	{"pan id string", set("advanced.pan_id", "0x1a62"), `advanced.pan_id: a string must be "GENERATE"`, true},
	{"old version", set("version", 4), "version: must be 5", true},
}

func set(path string, v any) func(map[string]any) {
	return func(cfg map[string]any) {
		keys := strings.Split(path, ".")
		m := cfg
		for _, k := range keys[:len(keys)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		m[keys[len(keys)-1]] = v
	}
}

func del(path string) func(map[string]any) {
	return func(cfg map[string]any) {
		keys := strings.Split(path, ".")
		m := cfg
		for _, k := range keys[:len(keys)-1] {
			m = m[k].(map[string]any)
		}
		delete(m, keys[len(keys)-1])
	}
}

func mutated(t *testing.T, base []byte, mutate func(map[string]any)) []byte {
	t.Helper()
	var cfg map[string]any
	if err := yaml.Unmarshal(base, &cfg); err != nil {
		t.Fatal(err)
	}
	mutate(cfg)
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestValidateRejectsInvalid(t *testing.T) {
	schema := realSchema(t)
	base := renderExample(t, "tcp_wizard_full", mqttVariants["anonymous"])
	for _, tt := range invalidCases {
		t.Run(tt.name, func(t *testing.T) {
			err := upstream.ValidateConfig(schema, mutated(t, base, tt.mutate))
			if err == nil {
				t.Fatalf("ValidateConfig accepted an invalid configuration, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v\nwant it to contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "invalid Zigbee2MQTT configuration: ") {
				t.Errorf("error %q lacks context", err)
			}
			var ve *upstream.ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Errorf("error does not unwrap to a *ValidationError with problems")
			}
		})
	}
	if err := upstream.ValidateConfig(schema, []byte("mqtt: [")); err == nil {
		t.Error("ValidateConfig accepted text that is not YAML")
	}
}

func TestValidateInstalled(t *testing.T) {
	dir := installDir(t)
	out := renderExample(t, "tcp_minimal", mqttVariants["anonymous"])
	if err := upstream.ValidateInstalled(dir, out); err != nil {
		t.Errorf("ValidateInstalled: %v", err)
	}
	if err := upstream.ValidateInstalled(t.TempDir(), out); err == nil || !strings.Contains(err.Error(), "load settings schema") {
		t.Errorf("ValidateInstalled(empty dir) = %v, want a schema load error", err)
	}
}

// ajvCheck is run by node: it validates each document on stdin with the ajv
// and the schema shipped in the Zigbee2MQTT install, the way Zigbee2MQTT
// does before it starts, and prints one boolean per document.
const ajvCheck = `
const path = require("path");
const dir = process.argv[1];
const req = (m) => require(require.resolve(m, {paths: [path.join(dir, "node_modules", "zigbee2mqtt")]}));
const Ajv = req("ajv").default;
const schema = require(path.join(dir, "node_modules/zigbee2mqtt/dist/util/settings.schema.json"));
const validate = new Ajv({allErrors: true}).addKeyword("requiresRestart").compile(schema);
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  console.log(JSON.stringify(JSON.parse(input).map((doc) => validate(doc))));
});
`

// TestValidatorAgreesWithAjv checks that the Go validator and Zigbee2MQTT's
// own ajv validation agree on every example and every invalid case.
func TestValidatorAgreesWithAjv(t *testing.T) {
	dir := installDir(t)
	schema := realSchema(t)
	node := upstream.NodeBinary(dir)
	if _, err := exec.LookPath(node); err != nil {
		t.Skipf("node not found: %v", err)
	}
	var docs []any
	var names []string
	add := func(name string, data []byte) {
		var doc any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, doc)
		names = append(names, name)
	}
	for _, name := range instanceNames(t) {
		add(name, renderExample(t, name, mqttVariants["tls"]))
	}
	base := renderExample(t, "tcp_wizard_full", mqttVariants["anonymous"])
	for _, tt := range invalidCases {
		if !tt.extra {
			add(tt.name, mutated(t, base, tt.mutate))
		}
	}
	input, err := json.Marshal(docs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "-e", ajvCheck, filepath.Clean(dir))
	cmd.Stdin = bytes.NewReader(input)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node ajv check: %v", err)
	}
	var ajv []bool
	if err := json.Unmarshal(out, &ajv); err != nil || len(ajv) != len(docs) {
		t.Fatalf("node ajv check printed %q (%v)", out, err)
	}
	t.Logf("ajv verdicts: %v", ajv)
	for i, doc := range docs {
		goErr := schema.Validate(doc)
		if got := goErr == nil; got != ajv[i] {
			t.Errorf("%s: Go validator valid=%v (%v), ajv valid=%v", names[i], got, goErr, ajv[i])
		}
	}
}

// TestSupervisorRealZigbee2MQTT starts the pinned Zigbee2MQTT with a
// rendered configuration pointing at closed ports: it must accept the
// configuration, log its start-up at info, fail to reach the adapter, exit
// with status 1, and be reported through OnCrash.
func TestSupervisorRealZigbee2MQTT(t *testing.T) {
	dir := installDir(t)
	closed := closedPort(t)
	inst := parseExample(t, "tcp_minimal")
	inst.Adapter.Port = fmt.Sprintf("tcp://127.0.0.1:%d", closed)
	data := t.TempDir()
	res, err := upstream.ResolveIdentity(data, inst)
	if err != nil {
		t.Fatal(err)
	}
	res.Identity.ApplyTo(inst.Adapter)
	cfg, err := upstream.Render(inst, upstream.MQTTSettings{Server: upstream.MQTTServerURL("127.0.0.1", closed, false)})
	if err != nil {
		t.Fatal(err)
	}
	if err := upstream.ValidateInstalled(dir, cfg); err != nil {
		t.Fatal(err)
	}
	if err := upstream.WriteConfig(data, cfg); err != nil {
		t.Fatal(err)
	}
	sink := &logSink{}
	s := &upstream.Supervisor{
		InstallDir: dir,
		DataDir:    data,
		Logger:     zerolog.New(sink),
		Backoff:    func(int) time.Duration { return time.Hour },
	}
	got := make(chan error, 1)
	s.OnCrash = func(err error, restarts int, loop bool) { got <- err }
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	select {
	case err := <-got:
		if !strings.Contains(err.Error(), "exited with status 1") {
			t.Errorf("exit = %v, want status 1", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Zigbee2MQTT did not exit although the adapter is unreachable")
	}
	for _, want := range []struct{ msg, level string }{
		{"Starting Zigbee2MQTT version " + upstream.Z2MVersion, "info"},
		{"Failed to start zigbee-herdsman", "error"},
	} {
		var found map[string]any
		for _, e := range sink.entries() {
			if m, _ := e["message"].(string); strings.HasPrefix(m, want.msg) {
				found = e
				break
			}
		}
		if found == nil || found["level"] != want.level || found["ns"] != "z2m" {
			t.Errorf("%q: logged as %v, want level %s ns z2m\nlogs:\n%s", want.msg, found, want.level, sink.buf.String())
		}
	}
	if e := sink.find("Refusing to start because configuration is not valid, found the following errors:"); e != nil {
		t.Errorf("Zigbee2MQTT rejected the rendered configuration:\n%s", sink.buf.String())
	}
}
