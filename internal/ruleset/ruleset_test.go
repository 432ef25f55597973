package ruleset_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/ruleset"
	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
)

const soil = `blocks:
  - name: soil
    select: {model: [TS0601_soil]}
    rules:
      - from: temperature_unit
        to: unit
`

func write(t *testing.T, dir, name, data string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// layers returns "layer:name" for every file loaded.
func layers(l *ruleset.Loaded) []string {
	var out []string
	for _, f := range l.Files {
		out = append(out, f.Layer.String()+":"+filepath.Base(f.Name))
	}
	return out
}

func TestLoad_Layers(t *testing.T) {
	pack := []string{"generic:builtin:generic.yaml", "pack:10-lights.yaml", "pack:20-switches.yaml", "pack:30-sensors.yaml", "pack:40-covers-locks-climate.yaml"}
	tests := []struct {
		name    string
		files   map[string]string // the custom folder
		replace bool
		want    []string
		summary string
	}{
		{"no custom folder", nil, false, pack, "custom: none"},
		{"a custom file adds to the pack", map[string]string{"soil.yaml": soil}, false, append(slices.Clone(pack), "custom:soil.yaml"), "custom: "},
		{"a file named like a pack file replaces it", map[string]string{"10-lights.yaml": "blocks: []\n"}, false,
			[]string{"generic:builtin:generic.yaml", "pack:20-switches.yaml", "pack:30-sensors.yaml", "pack:40-covers-locks-climate.yaml", "custom:10-lights.yaml"},
			"10-lights.yaml replaced by custom files of the same name"},
		{"replacing the pack is explicit", map[string]string{"soil.yaml": soil}, true, []string{"generic:builtin:generic.yaml", "custom:soil.yaml"}, "pack: left out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "mappings")
			for name, data := range tt.files {
				write(t, dir, name, data)
			}
			l, err := ruleset.Load(ruleset.Sources{Dir: dir, ReplacePack: tt.replace})
			if err != nil {
				t.Fatal(err)
			}
			if got := layers(l); !slices.Equal(got, tt.want) {
				t.Errorf("files %v, want %v", got, tt.want)
			}
			if !strings.Contains(l.Summary(), tt.summary) {
				t.Errorf("summary %q lacks %q", l.Summary(), tt.summary)
			}
		})
	}
}

// The instance JSON's mappings are the top layer; named files stand in for
// the folder.
func TestLoad_InstanceAndNamedFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "soil.yaml", soil)
	write(t, filepath.Join(dir, "ignored"), "other.yaml", soil)
	l, err := ruleset.Load(ruleset.Sources{Files: []string{filepath.Join(dir, "soil.yaml")}, Dir: filepath.Join(dir, "ignored"),
		Instance: []byte(`[{"name":"inst","rules":[{"from":"a","to":"b"}]}]`), InstancePath: "/app/instances/zb1.json"})
	if err != nil {
		t.Fatal(err)
	}
	got := layers(l)
	if want := []string{"custom:soil.yaml", "instance:zb1.json:mappings"}; !slices.Equal(got[len(got)-2:], want) {
		t.Errorf("top layers %v, want %v", got[len(got)-2:], want)
	}
}

// A broken custom file fails the load with every problem, naming the file.
func TestLoad_Errors(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "bad.yaml", "blocks:\n  - name: x\n    selekt: {}\n    rules: [{from: a, to: b, transform: [{scale: {percision: 1}}]}]\n")
	_, err := ruleset.Load(ruleset.Sources{Dir: dir})
	var list mapping.ErrorList
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:3:5") {
		t.Fatalf("error %v, want one naming bad.yaml:3:5", err)
	}
	if !asList(err, &list) || len(list) < 2 {
		t.Errorf("error %v: want every problem listed", err)
	}
	if _, err := ruleset.Load(ruleset.Sources{Dir: filepath.Join(dir, "bad.yaml")}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a file as the folder: error %v", err)
	}
}

func asList(err error, list *mapping.ErrorList) bool {
	l, ok := err.(mapping.ErrorList)
	*list = l
	return ok
}

func TestDefaultDir(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "/app/mappings"},
		{map[string]string{"IOT2MQTT_PATH": "/srv/zb"}, "/srv/zb/mappings"},
		{map[string]string{"IOT2MQTT_PATH": "/srv/zb", "MAPPINGS_DIR": "/etc/rules"}, "/etc/rules"},
	}
	for _, tt := range tests {
		if got := ruleset.DefaultDir(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("DefaultDir(%v) = %s, want %s", tt.env, got, tt.want)
		}
	}
}

// Export writes the built-in pack, and loading the exported folder gives
// the same rules (every file replaces its namesake).
func TestExport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pack")
	written, err := ruleset.Export(dir)
	if err != nil || len(written) != 4 {
		t.Fatalf("Export = %v, %v; want 4 files", written, err)
	}
	l, err := ruleset.Load(ruleset.Sources{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Replaced) != 4 {
		t.Errorf("replaced %v, want all 4 pack files", l.Replaced)
	}
	if _, err := ruleset.Export(dir); err == nil {
		t.Error("a second export overwrote the edited files")
	}
}

// A fixture's own mappings/ takes the place of the custom folder.
func TestFixtureDir(t *testing.T) {
	with, without := t.TempDir(), t.TempDir()
	write(t, filepath.Join(with, "mappings"), "soil.yaml", soil)
	if got := ruleset.FixtureDir(with, "/app/mappings"); got != filepath.Join(with, "mappings") {
		t.Errorf("with mappings/: %s", got)
	}
	if got := ruleset.FixtureDir(without, "/app/mappings"); got != "/app/mappings" {
		t.Errorf("without mappings/: %s, want the fallback", got)
	}
}
