package test

import (
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/iot2mqtt/zigbee2mqtt-translator"

// packages maps every package of the module (by path inside the module, "."
// for none) to its non-test imports.
func packages(t *testing.T) map[string][]string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil {
			return nil // no Go files here
		}
		rel, _ := filepath.Rel(root, path)
		out[filepath.ToSlash(rel)] = pkg.Imports
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The dependencies point one way (docs/architecture.md): the rules and the
// engine know no MQTT, process, network or logging; the transport knows
// none of the project; only the transport speaks MQTT through paho (the
// test harnesses aside); only the CLI uses the daemon.
func TestLayout_DependenciesPointOneWay(t *testing.T) {
	pkgs := packages(t)
	if len(pkgs) < 8 {
		t.Fatalf("found only %d packages: %v", len(pkgs), pkgs)
	}
	forbidden := map[string][]string{
		"mapping":     {"github.com/eclipse/paho.golang", "github.com/rs/zerolog", "os/exec", "net", module + "/"},
		"translate":   {"github.com/eclipse/paho.golang", "github.com/rs/zerolog", "os/exec", "net", module + "/translate/", module + "/transport", module + "/daemon", module + "/upstream"},
		"transport":   {module + "/"},
		"upstream":    {module + "/"},
		"coordinator": {module + "/"},
	}
	for pkg, bans := range forbidden {
		imports, ok := pkgs[pkg]
		if !ok {
			t.Errorf("package %s not found", pkg)
			continue
		}
		for _, imp := range imports {
			for _, ban := range bans {
				if imp == ban || strings.HasPrefix(imp, ban+"/") || (strings.HasSuffix(ban, "/") && strings.HasPrefix(imp, ban)) {
					t.Errorf("%s imports %s", pkg, imp)
				}
			}
		}
	}
	pahoUsers := []string{"transport", "internal/mqtttest", "bench/internal/benchmqtt", "bench/soak", "bench/virtual"}
	for pkg, imports := range pkgs {
		for _, imp := range imports {
			if strings.HasPrefix(imp, "github.com/eclipse/paho.golang") && !slices.Contains(pahoUsers, pkg) {
				t.Errorf("%s imports %s; only %v may", pkg, imp, pahoUsers)
			}
			if imp == module+"/daemon" && pkg != "cmd/translator" {
				t.Errorf("%s imports the daemon; only cmd/translator may", pkg)
			}
			if imp == module+"/transport" && pkg != "daemon" && pkg != "cmd/translator" {
				t.Errorf("%s imports the transport; only daemon and cmd/translator may", pkg)
			}
		}
	}
}

// cmd/translator is the CLI: one file per subcommand and main.go, no more.
func TestLayout_CommandIsThin(t *testing.T) {
	entries, err := os.ReadDir("../cmd/translator")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"check.go", "coordinator.go", "health.go", "main.go", "pack.go", "record.go", "replay.go", "run.go", "sandbox.go"}
	var got []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".go") && !strings.HasSuffix(e.Name(), "_test.go") {
			got = append(got, e.Name())
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("cmd/translator holds %v, want %v", got, want)
	}
}
