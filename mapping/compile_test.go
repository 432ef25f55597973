package mapping_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
	"github.com/iot2mqtt/zigbee2mqtt-translator/mappings"
	"github.com/tidwall/gjson"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestCompile_InvalidGolden compiles every testdata/invalid/*.yaml and
// compares the full error list with the .err golden file.
func TestCompile_InvalidGolden(t *testing.T) {
	paths, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no invalid cases: %v", err)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			_, err = mapping.Compile([]mapping.File{{Name: filepath.ToSlash(p), Data: data, Layer: mapping.LayerPack}})
			if err == nil {
				t.Fatal("compiled without errors")
			}
			var list mapping.ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error is %T, want mapping.ErrorList", err)
			}
			for _, e := range list {
				if e.Line == 0 {
					t.Errorf("error without a position: %v", e)
				}
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(p, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./mapping -update)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

// TestShippedPack loads every file of the default pack.
func TestShippedPack(t *testing.T) {
	files, err := mapping.LoadFS(mappings.Files, "*.yaml", mapping.LayerPack, "mappings")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("only %d files in the pack", len(files))
	}
	for _, f := range files {
		if !strings.HasPrefix(string(f.Data), "#") {
			t.Errorf("%s does not open with a comment of sample messages", f.Name)
		}
	}
	if _, err := mapping.Compile(append([]mapping.File{mapping.GenericFile()}, files...)); err != nil {
		t.Fatalf("shipped pack does not compile:\n%v", err)
	}
}

func TestLoadFS(t *testing.T) {
	fsys := fstest.MapFS{
		"b.yaml":     {Data: []byte("blocks: []\n")},
		"a.yaml":     {Data: []byte("blocks: []\n")},
		"notes.txt":  {Data: []byte("ignored")},
		"empty.yaml": {Data: []byte("")},
	}
	files, err := mapping.LoadFS(fsys, "*.yaml", mapping.LayerPack, "pack")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	if got, want := strings.Join(names, ","), "pack/a.yaml,pack/b.yaml,pack/empty.yaml"; got != want {
		t.Errorf("files = %s, want %s", got, want)
	}
	if _, err := mapping.Compile(files); err != nil {
		t.Errorf("empty files should compile: %v", err)
	}
}

func TestGlob(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"kitchen/*", "kitchen/lamp", true},
		{"kitchen/*", "Kitchen/Lamp", true},
		{"*lamp*", "living room/lamp 2", true},
		{"LED15??G12", "LED1545G12", true},
		{"LED15??G12", "LED154G12", false},
		{"0x000d6f*", "0x000d6ffffe1a2b3c", true},
		{"*", "", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"", "x", false},
	}
	for _, tc := range cases {
		if got := mapping.Glob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

const bulbExposes = `[
 {"type":"light","features":[
   {"type":"binary","name":"state","property":"state","access":7,"value_on":"ON","value_off":"OFF"},
   {"type":"numeric","name":"brightness","property":"brightness","access":7,"value_min":0,"value_max":254}]},
 {"type":"numeric","name":"linkquality","property":"linkquality","access":1,"unit":"lqi"},
 {"type":"numeric","name":"temperature","property":"temperature","access":1,"unit":"°F"}]`

func bulb() *mapping.Device {
	return &mapping.Device{IEEE: "0x000d6ffffe1a2b3c", FriendlyName: "kitchen/lamp", Model: "LED1545G12", Vendor: "IKEA",
		Properties: mapping.ParseExposes(gjson.Parse(bulbExposes))}
}

// ruleFor returns the bound rule reading from, as "to@file".
func ruleFor(p *mapping.Plan, from string) string {
	for _, b := range p.Rules {
		if b.From == from && b.Rule.CanRead() {
			return b.To + "@" + b.Rule.Block.File
		}
	}
	return ""
}

func TestPlan_LayerPrecedence(t *testing.T) {
	pack := mapping.File{Name: "pack.yaml", Layer: mapping.LayerPack, Data: []byte(`
blocks:
  - name: all-lights
    select: {expose: {type: light}}
    rules:
      - {from: state, to: power}
      - {from: brightness, to: level}
  - name: ikea
    select: {vendor: [IKEA], model: ["LED15*"]}
    rules:
      - {from: brightness, to: dim}
  - name: other-vendor
    select: {vendor: [Philips]}
    rules:
      - {from: state, to: philips_power}
`)}
	inst := mapping.File{Name: "instance.json", Layer: mapping.LayerInstance, Data: []byte(`[
  {"name": "mine", "select": {"friendly_name": ["kitchen/*"]}, "rules": [{"from": "state", "to": "on"}]}]`)}
	// Files are given out of order on purpose: layers decide, not order.
	set, err := mapping.Compile([]mapping.File{inst, pack, mapping.GenericFile()})
	if err != nil {
		t.Fatal(err)
	}
	p := set.Plan(bulb())
	cases := []struct{ from, want string }{
		{"state", "on@instance.json"},                       // instance layer beats the pack
		{"brightness", "dim@pack.yaml"},                     // later, more specific block beats the earlier one
		{"linkquality", "linkquality@builtin:generic.yaml"}, // generic fallback from exposes
	}
	for _, tc := range cases {
		if got := ruleFor(p, tc.from); got != tc.want {
			t.Errorf("rule for %s = %s, want %s", tc.from, got, tc.want)
		}
	}
	other := bulb()
	other.FriendlyName = "hall/lamp"
	if got := ruleFor(set.Plan(other), "state"); got != "power@pack.yaml" {
		t.Errorf("without the instance selector, state → %s, want power@pack.yaml", got)
	}
}

func TestPlan_ExposeTemplates(t *testing.T) {
	set, err := mapping.Compile([]mapping.File{mapping.GenericFile(), {Name: "p.yaml", Layer: mapping.LayerPack, Data: []byte(`
blocks:
  - name: fahrenheit
    rules:
      - expose: {type: numeric, unit: "°F"}
        to: "{property}_c"
        transform: [{unit: {from: "°F", to: "°C"}}]
`)}})
	if err != nil {
		t.Fatal(err)
	}
	p := set.Plan(bulb())
	if got := ruleFor(p, "temperature"); got != "temperature_c@p.yaml" {
		t.Errorf("temperature → %s, want temperature_c@p.yaml", got)
	}
	if got := ruleFor(p, "linkquality"); got != "linkquality@builtin:generic.yaml" {
		t.Errorf("linkquality → %s; only °F exposes should match", got)
	}
	for _, b := range p.Rules {
		if b.From == "linkquality" && b.Writable {
			t.Error("linkquality has no set access bit but is writable")
		}
		if b.From == "state" && !b.Writable {
			t.Error("state has the set access bit but is not writable")
		}
	}
}

func TestPlan_DeviceID(t *testing.T) {
	cases := []struct{ tmpl, want string }{
		{"", "0x000d6ffffe1a2b3c"},
		{"{ieee_short}", "000d6ffffe1a2b3c"},
		{"{friendly_name}", "kitchen-lamp"},
		{"{model}_{ieee_short}", "led1545g12_000d6ffffe1a2b3c"},
	}
	for _, tc := range cases {
		src := "blocks:\n  - name: id\n"
		if tc.tmpl != "" {
			src += "    device_id: \"" + tc.tmpl + "\"\n"
		}
		set, err := mapping.Compile([]mapping.File{{Name: "id.yaml", Layer: mapping.LayerPack, Data: []byte(src)}})
		if err != nil {
			t.Fatal(err)
		}
		d := bulb()
		if got := set.Plan(d).DeviceID(d); got != tc.want {
			t.Errorf("device_id %q = %s, want %s", tc.tmpl, got, tc.want)
		}
	}
}

func TestParseExposes_EndpointsAndComposites(t *testing.T) {
	props := mapping.ParseExposes(gjson.Parse(`[
	 {"type":"switch","endpoint":"l1","features":[{"type":"binary","name":"state","property":"state_l1","endpoint":"l1","access":7}]},
	 {"type":"switch","endpoint":"l2","features":[{"type":"binary","name":"state","property":"state_l2","endpoint":"l2","access":7}]},
	 {"type":"light","features":[{"type":"composite","name":"color_xy","property":"color","access":7,"features":[
	   {"type":"numeric","name":"x","property":"x","access":7},{"type":"numeric","name":"y","property":"y","access":7}]}]},
	 {"type":"enum","name":"action","property":"action","access":1,"values":["single","double"]}]`))
	var got []string
	for _, p := range props {
		got = append(got, p.Parent+"/"+p.Type+"/"+p.Property+"@"+p.Endpoint)
	}
	want := "switch/binary/state_l1@l1 switch/binary/state_l2@l2 light/composite/color@ /enum/action@"
	if strings.Join(got, " ") != want {
		t.Errorf("properties = %s\nwant %s", strings.Join(got, " "), want)
	}
}
