package upstream_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/iot2mqtt/zigbee2mqtt-translator/upstream"
)

// The setup.json schema as the platform validates it (iot2mqtt-contract.md
// §4.1). Keys outside these lists are dropped by the platform or fail it.
var (
	setupTopKeys  = keys("version", "display_name", "description", "author", "branding", "requirements", "multi_device", "flows", "tools", "discovery", "secrets")
	setupToolKeys = keys("entry", "timeout", "network", "secrets", "environment", "description")
	setupFlowKeys = keys("id", "name", "description", "default", "prerequisites", "steps")
	setupStepKeys = keys("id", "type", "title", "description", "schema", "tool", "input", "output_key", "items", "item_label", "item_value",
		"multi_select", "sections", "actions", "auto_advance", "optional", "conditions", "instance", "oauth")
	setupStepTypes  = keys("form", "tool", "select", "summary", "discovery", "message", "instance", "oauth")
	setupFieldKeys  = keys("type", "name", "label", "description", "required", "default", "placeholder", "options", "pattern", "min", "max", "step", "multiline", "secret", "advanced", "conditions")
	setupFieldTypes = keys("text", "password", "number", "select", "checkbox", "ip", "url", "email", "textarea")
	setupActionKeys = keys("type", "label", "flow", "url", "payload", "confirm")
	// Only these action types do anything in the wizard.
	setupActionTypes = keys("goto_flow", "open_url", "reset_flow")
	toolNetworks     = keys("none", "local", "internet")
	// Key names the platform moves into the encrypted secret store, out of
	// the container's reach (§3).
	sensitiveParts = []string{"password", "token", "api_key", "secret", "private_key", "credential", "auth_token"}
	placeholderRe  = regexp.MustCompile(`\{\{\s*([^}]*?)\s*\}\}`)
)

func keys(list ...string) map[string]bool {
	m := map[string]bool{}
	for _, k := range list {
		m[k] = true
	}
	return m
}

func unknownKeys(obj map[string]any, allowed map[string]bool) []string {
	var bad []string
	for k := range obj {
		if !allowed[k] {
			bad = append(bad, k)
		}
	}
	sort.Strings(bad)
	return bad
}

func loadSetup(t *testing.T) map[string]any {
	t.Helper()
	var setup map[string]any
	if err := json.Unmarshal([]byte(readRepoFile(t, "setup.json")), &setup); err != nil {
		t.Fatalf("setup.json is not JSON: %v", err)
	}
	return setup
}

func objects(v any) []map[string]any {
	list, _ := v.([]any)
	var out []map[string]any
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func TestSetupJSONSchema(t *testing.T) {
	setup := loadSetup(t)
	if bad := unknownKeys(setup, setupTopKeys); bad != nil {
		t.Errorf("top level: unknown keys %v", bad)
	}
	for _, k := range []string{"multi_device", "discovery"} {
		if _, ok := setup[k]; ok {
			t.Errorf("top level: %q is Yeelight-specific or broken on the platform; omit it", k)
		}
	}
	if s, _ := setup["display_name"].(string); s == "" {
		t.Error("display_name is required")
	}

	tools, _ := setup["tools"].(map[string]any)
	for id, v := range tools {
		tool, _ := v.(map[string]any)
		if bad := unknownKeys(tool, setupToolKeys); bad != nil {
			t.Errorf("tools.%s: unknown keys %v", id, bad)
		}
		entry, _ := tool["entry"].(string)
		if _, err := os.Stat(repoFile(entry)); entry == "" || err != nil {
			t.Errorf("tools.%s.entry %q: missing file", id, entry)
		}
		if n, ok := tool["network"].(string); ok && !toolNetworks[n] {
			t.Errorf("tools.%s.network %q is not none/local/internet", id, n)
		}
		if to, ok := tool["timeout"].(float64); ok && (to != float64(int(to)) || to > 30) {
			t.Errorf("tools.%s.timeout %v: must be whole seconds within the web proxy's 30 s", id, to)
		}
	}

	flows := objects(setup["flows"])
	if len(flows) < 2 {
		t.Fatalf("want the network and the USB flow, got %d flows", len(flows))
	}
	flowIDs := map[string]bool{}
	defaults := 0
	for _, f := range flows {
		flowIDs[fmt.Sprint(f["id"])] = true
		if f["default"] == true {
			defaults++
		}
	}
	if defaults != 1 {
		t.Errorf("%d flows are default, want exactly 1", defaults)
	}
	if !flowIDs["network_coordinator"] || !flowIDs["usb_coordinator"] {
		t.Errorf("flows %v, want network_coordinator and usb_coordinator", flowIDs)
	}
	for _, f := range flows {
		checkFlow(t, f, tools, flowIDs)
	}
}

func checkFlow(t *testing.T, f map[string]any, tools map[string]any, flowIDs map[string]bool) {
	fid := fmt.Sprint(f["id"])
	if bad := unknownKeys(f, setupFlowKeys); bad != nil {
		t.Errorf("flow %s: unknown keys %v", fid, bad)
	}
	steps := objects(f["steps"])
	if len(steps) == 0 {
		t.Fatalf("flow %s has no steps", fid)
	}
	// What templates in this flow may refer to.
	formFields := map[string]map[string]bool{}
	toolOutputs := map[string]bool{}
	stepIDs := map[string]bool{}
	for i, s := range steps {
		where := fmt.Sprintf("flow %s step %d (%v)", fid, i, s["id"])
		if bad := unknownKeys(s, setupStepKeys); bad != nil {
			t.Errorf("%s: unknown keys %v", where, bad)
		}
		sid, _ := s["id"].(string)
		if sid == "" || stepIDs[sid] {
			t.Errorf("%s: missing or duplicate id", where)
		}
		stepIDs[sid] = true
		typ, _ := s["type"].(string)
		if !setupStepTypes[typ] {
			t.Errorf("%s: type %q is not one of the step types", where, typ)
		}
		if typ == "summary" {
			t.Errorf("%s: summary steps are never shown", where)
		}
		if _, ok := s["conditions"]; ok {
			t.Errorf("%s: conditions are not used by this connector", where)
		}
		if (typ == "instance") != (i == len(steps)-1) {
			t.Errorf("%s: the instance step must be the last one, and only it", where)
		}
		for _, a := range objects(s["actions"]) {
			if bad := unknownKeys(a, setupActionKeys); bad != nil {
				t.Errorf("%s: action keys %v", where, bad)
			}
			if at, _ := a["type"].(string); !setupActionTypes[at] {
				t.Errorf("%s: action type %q is not implemented by the wizard", where, at)
			}
			if a["type"] == "goto_flow" && !flowIDs[fmt.Sprint(a["flow"])] {
				t.Errorf("%s: goto_flow to unknown flow %v", where, a["flow"])
			}
		}
		switch typ {
		case "form":
			schema, _ := s["schema"].(map[string]any)
			formFields[sid] = map[string]bool{}
			for _, fld := range objects(schema["fields"]) {
				checkField(t, where, fld)
				formFields[sid][fmt.Sprint(fld["name"])] = true
			}
		case "tool":
			name, _ := s["tool"].(string)
			if _, ok := tools[name]; !ok {
				t.Errorf("%s: tool %q is not declared", where, name)
			}
			out := name
			if k, ok := s["output_key"].(string); ok && k != "" {
				out = k
			}
			toolOutputs[out] = true
			checkTemplates(t, where, s["input"], formFields, toolOutputs)
		case "instance":
			inst, _ := s["instance"].(map[string]any)
			checkTemplates(t, where, inst, formFields, toolOutputs)
			if inst["connector_type"] != "zigbee2mqtt" {
				t.Errorf("%s: connector_type = %v", where, inst["connector_type"])
			}
			config, _ := inst["config"].(map[string]any)
			for k := range config {
				checkKeyName(t, where+" config", k)
			}
		}
	}
}

func checkField(t *testing.T, where string, fld map[string]any) {
	name, _ := fld["name"].(string)
	where = where + " field " + name
	if bad := unknownKeys(fld, setupFieldKeys); bad != nil {
		t.Errorf("%s: unknown keys %v", where, bad)
	}
	if typ, _ := fld["type"].(string); !setupFieldTypes[typ] {
		t.Errorf("%s: type %q is not one of the nine field types", where, typ)
	}
	if name == "" {
		t.Errorf("%s: no name", where)
	}
	checkKeyName(t, where, name)
	if fld["required"] == true {
		if _, ok := fld["default"]; ok {
			t.Errorf("%s: a required field must not rely on a default (the wizard checks raw values)", where)
		}
	}
	if fld["type"] == "select" {
		opts := objects(fld["options"])
		if len(opts) == 0 {
			t.Errorf("%s: select without options", where)
		}
		for _, o := range opts {
			if bad := unknownKeys(o, keys("value", "label")); bad != nil || o["value"] == nil || o["label"] == nil {
				t.Errorf("%s: option %v must be {value, label}", where, o)
			}
		}
	}
	if p, ok := fld["pattern"].(string); ok {
		if _, err := regexp.Compile(p); err != nil {
			t.Errorf("%s: pattern: %v", where, err)
		}
	}
}

func checkKeyName(t *testing.T, where, name string) {
	for _, s := range sensitiveParts {
		if strings.Contains(strings.ToLower(name), s) {
			t.Errorf("%s: key %q contains %q, so the container would only see a placeholder", where, name, s)
		}
	}
}

// checkTemplates verifies every {{ placeholder }} refers to something the
// flow defines before it, and uses no filters.
func checkTemplates(t *testing.T, where string, v any, forms map[string]map[string]bool, tools map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			checkTemplates(t, where, e, forms, tools)
		}
	case []any:
		for _, e := range x {
			checkTemplates(t, where, e, forms, tools)
		}
	case string:
		for _, m := range placeholderRe.FindAllStringSubmatch(x, -1) {
			ref := m[1]
			parts := strings.Split(ref, ".")
			switch {
			case strings.Contains(ref, "|"):
				t.Errorf("%s: %q uses a filter; the wizard has none", where, x)
			case parts[0] == "form":
				if len(parts) != 3 || !forms[parts[1]][parts[2]] {
					t.Errorf("%s: %q refers to no earlier form field", where, x)
				}
			case parts[0] == "tools":
				if len(parts) < 4 || !tools[parts[1]] || parts[2] != "result" {
					t.Errorf("%s: %q must be tools.<earlier output>.result.<key>", where, x)
				}
			default:
				t.Errorf("%s: %q uses an unexpected namespace", where, x)
			}
		}
	}
}

// resolve substitutes placeholders the way the wizard does: a string that is
// exactly one placeholder takes the raw value, a missing value becomes "".
func resolve(v any, ctx map[string]any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = resolve(e, ctx)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = resolve(e, ctx)
		}
		return out
	case string:
		lookup := func(ref string) any {
			var cur any = ctx
			for _, p := range strings.Split(ref, ".") {
				m, ok := cur.(map[string]any)
				if !ok {
					return ""
				}
				if cur, ok = m[p]; !ok {
					return ""
				}
			}
			return cur
		}
		if m := placeholderRe.FindStringSubmatch(x); m != nil && m[0] == x {
			return lookup(m[1])
		}
		return placeholderRe.ReplaceAllStringFunc(x, func(s string) string {
			return fmt.Sprint(lookup(placeholderRe.FindStringSubmatch(s)[1]))
		})
	}
	return v
}

// TestSetupJSONProducesValidInstance walks each flow like the wizard: form
// values are the field defaults plus sample answers, the tool output is
// generate_network's shape, and the posted config is stored as the platform
// does (connection + top-level copies). The daemon must then parse it.
func TestSetupJSONProducesValidInstance(t *testing.T) {
	samples := map[string]any{"friendly_name": "Zigbee", "instance_id": "zigbee2mqtt_t1"}
	ports := map[string]string{"network_coordinator": "tcp://192.168.1.50:6638", "usb_coordinator": "/dev/ttyACM0"}
	params := map[string]any{"channel": 15.0, "pan_id": "0x1a63", "ext_pan_id": "b67d9df7ca2131fb", "network_key": "74c652fc44628fd04b47ffe7b456f4e1"}
	for _, f := range objects(loadSetup(t)["flows"]) {
		fid := fmt.Sprint(f["id"])
		t.Run(fid, func(t *testing.T) {
			form := map[string]any{}
			var instance map[string]any
			for _, s := range objects(f["steps"]) {
				switch s["type"] {
				case "form":
					values := map[string]any{}
					schema, _ := s["schema"].(map[string]any)
					for _, fld := range objects(schema["fields"]) {
						name := fmt.Sprint(fld["name"])
						if d, ok := fld["default"]; ok {
							values[name] = d
						}
						if v, ok := samples[name]; ok {
							values[name] = v
						}
						if name == "serial_port" {
							values[name] = ports[fid]
						}
					}
					form[fmt.Sprint(s["id"])] = values
				case "instance":
					instance, _ = s["instance"].(map[string]any)
				}
			}
			ctx := map[string]any{"form": form, "tools": map[string]any{"network_params": map[string]any{"ok": true, "result": params}}}
			posted := resolve(instance, ctx).(map[string]any)
			config, _ := posted["config"].(map[string]any)
			stored := map[string]any{
				"instance_id": posted["instance_id"], "instance_type": "device", "connector_type": posted["connector_type"],
				"friendly_name": posted["friendly_name"], "connection": config, "devices": posted["devices"], "enabled": true,
			}
			for k, v := range config {
				if _, ok := stored[k]; !ok {
					stored[k] = v
				}
			}
			data, _ := json.Marshal(stored)
			inst, err := upstream.ParseInstance(data, "zigbee2mqtt_t1", "/app")
			if err != nil {
				t.Fatalf("the wizard's instance does not parse: %v\n%s", err, data)
			}
			a := inst.Adapter
			if a == nil || a.Port != ports[fid] || a.Type != "zstack" || a.Channel != 15 || a.PanID != 0x1a63 ||
				a.ExtPanID != params["ext_pan_id"] || a.NetworkKey != params["network_key"] {
				t.Errorf("adapter = %+v", a)
			}
			if inst.Z2MBaseTopic != "zigbee2mqtt_t1" || inst.FrontendEnabled || inst.FrontendPort != 8099 || inst.Z2MLogLevel != "info" {
				t.Errorf("options: base topic %q frontend %v:%d log %q", inst.Z2MBaseTopic, inst.FrontendEnabled, inst.FrontendPort, inst.Z2MLogLevel)
			}
		})
	}
}

// runAction runs a setup tool script like the platform's test runner.
func runAction(t *testing.T, script string, input map[string]any) map[string]any {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found; the setup tools run in the platform's Python runner")
	}
	req, _ := json.Marshal(map[string]any{"tool": strings.TrimSuffix(script, ".py"), "input": input})
	cmd := exec.Command(py, repoFile("actions/"+script))
	cmd.Stdin = bytes.NewReader(req)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s exited with %v (tools must exit 0)", script, err)
	}
	var resp map[string]any
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("%s printed %q, not one JSON document", script, out)
	}
	return resp
}

func TestGenerateNetworkAction(t *testing.T) {
	tests := []struct {
		name    string
		input   map[string]any
		wantErr bool
		want    map[string]any // exact values; nil entries only shape-checked
	}{
		{"blank", map[string]any{"channel": "", "pan_id": "", "ext_pan_id": "", "network_key": ""}, false, map[string]any{"channel": 11.0}},
		{"kept", map[string]any{"channel": 20, "pan_id": "1A62", "ext_pan_id": "0xB67D9DF7CA2131FB", "network_key": "74c652fc44628fd04b47ffe7b456f4e1"}, false,
			map[string]any{"channel": 20.0, "pan_id": "0x1a62", "ext_pan_id": "b67d9df7ca2131fb", "network_key": "74c652fc44628fd04b47ffe7b456f4e1"}},
		{"channel string", map[string]any{"channel": "25"}, false, map[string]any{"channel": 25.0}},
		{"pan 0", map[string]any{"pan_id": "0x0000"}, true, nil},
		{"pan ffff", map[string]any{"pan_id": "ffff"}, true, nil},
		{"bad key", map[string]any{"network_key": "xyz"}, true, nil},
		{"channel 27", map[string]any{"channel": 27}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := runAction(t, "generate_network.py", tt.input)
			if tt.wantErr {
				errObj, _ := resp["error"].(map[string]any)
				if resp["ok"] != false || errObj["code"] != "invalid_parameter" {
					t.Errorf("response %v, want invalid_parameter", resp)
				}
				return
			}
			res, _ := resp["result"].(map[string]any)
			if resp["ok"] != true || res == nil {
				t.Fatalf("response %v", resp)
			}
			for k, v := range tt.want {
				if res[k] != v {
					t.Errorf("%s = %v, want %v", k, res[k], v)
				}
			}
			// The daemon accepts what the tool returns.
			inst, _ := json.Marshal(map[string]any{"serial_port": "tcp://h:1", "channel": res["channel"], "pan_id": res["pan_id"],
				"ext_pan_id": res["ext_pan_id"], "network_key": res["network_key"]})
			if _, err := upstream.ParseInstance(inst, "x", "/app"); err != nil {
				t.Errorf("the daemon rejects the generated values: %v", err)
			}
		})
	}
}

func TestValidateAdapterAction(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	open := l.Addr().(*net.TCPAddr).Port
	closed := closedPort(t)
	tests := []struct {
		name     string
		input    map[string]any
		wantOK   bool
		wantCode string
		wantKind string
	}{
		{"empty (HEAD form regression)", map[string]any{"serial_port": "", "adapter": ""}, false, "missing_parameter", ""},
		{"reachable", map[string]any{"serial_port": fmt.Sprintf("tcp://127.0.0.1:%d", open), "adapter": "zstack"}, true, "", "tcp"},
		{"unreachable", map[string]any{"serial_port": fmt.Sprintf("tcp://127.0.0.1:%d", closed)}, false, "unreachable", ""},
		{"serial", map[string]any{"serial_port": "/dev/serial/by-id/usb-x-if00"}, true, "", "serial"},
		{"garbage", map[string]any{"serial_port": "COM3"}, false, "invalid_address", ""},
		{"bad port", map[string]any{"serial_port": "tcp://h:99999"}, false, "invalid_address", ""},
		{"bad adapter", map[string]any{"serial_port": "/dev/ttyACM0", "adapter": "cc2531"}, false, "invalid_parameter", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := runAction(t, "validate_adapter.py", tt.input)
			if resp["ok"] != tt.wantOK {
				t.Fatalf("response %v, want ok=%v", resp, tt.wantOK)
			}
			if tt.wantOK {
				res, _ := resp["result"].(map[string]any)
				if res["kind"] != tt.wantKind {
					t.Errorf("kind = %v, want %s", res["kind"], tt.wantKind)
				}
				return
			}
			errObj, _ := resp["error"].(map[string]any)
			if errObj["code"] != tt.wantCode || errObj["message"] == "" {
				t.Errorf("error = %v, want code %s with a message", errObj, tt.wantCode)
			}
		})
	}
}
