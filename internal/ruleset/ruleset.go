// Package ruleset finds and compiles the mapping rules, the same way for
// the daemon, its reloads and every tool (check, replay, sandbox):
//
//  1. the built-in generic layer;
//  2. the built-in pack (the mappings/ folder of this repository, embedded
//     in the binary);
//  3. the integrator's files ($MAPPINGS_DIR, default $IOT2MQTT_PATH/mappings,
//     a fixture's mappings/, or the files given to check), which add to the
//     pack and override it rule by rule; a file named like a pack file
//     (10-lights.yaml) replaces that file;
//  4. the instance JSON's `mappings`.
//
// Replacing the whole pack is an explicit option (ReplacePack).
package ruleset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
	"github.com/iot2mqtt/zigbee2mqtt-translator/mappings"
)

// Sources says where the integrator's rules are.
type Sources struct {
	// Dir holds the integrator's *.yaml files. A directory that does not
	// exist means none.
	Dir string
	// Files are the integrator's files, named one by one; when set, Dir is
	// not read.
	Files []string
	// ReplacePack leaves the built-in pack out: only the integrator's files
	// apply above the generic layer.
	ReplacePack bool
	// Instance is the instance JSON's `mappings` list, read from
	// InstancePath (named in errors).
	Instance     []byte
	InstancePath string
}

// Loaded is a compiled rule set and the files it was made of, by layer.
type Loaded struct {
	Set *mapping.Set
	// Files are the names of the files compiled, lowest layer first.
	Files []mapping.File
	// Replaced are built-in pack files that an integrator's file of the same
	// name replaced.
	Replaced []string
	// PackReplaced says the whole built-in pack was left out (ReplacePack).
	PackReplaced bool
}

// DefaultDir is where the integrator's files are when nothing names them:
// $MAPPINGS_DIR, else $IOT2MQTT_PATH/mappings ($IOT2MQTT_PATH defaults to
// /app, as in the container).
func DefaultDir(getenv func(string) string) string {
	if d := strings.TrimSpace(getenv("MAPPINGS_DIR")); d != "" {
		return d
	}
	home := strings.TrimSpace(getenv("IOT2MQTT_PATH"))
	if home == "" {
		home = "/app"
	}
	return filepath.Join(home, "mappings")
}

// FixtureDir is the custom folder for a replay fixture in dir: the
// fixture's own mappings/ when it has one, else fallback.
func FixtureDir(dir, fallback string) string {
	own := filepath.Join(dir, "mappings")
	if st, err := os.Stat(own); err == nil && st.IsDir() {
		return own
	}
	return fallback
}

// Load reads and compiles the layers. A compile error is a mapping.ErrorList
// naming every problem; nothing is returned with it.
func Load(src Sources) (*Loaded, error) {
	custom, err := integratorFiles(src)
	if err != nil {
		return nil, err
	}
	l := &Loaded{PackReplaced: src.ReplacePack}
	files := []mapping.File{mapping.GenericFile()}
	if !src.ReplacePack {
		pack, err := mapping.LoadFS(mappings.Files, "*.yaml", mapping.LayerPack, "builtin:mappings")
		if err != nil {
			return nil, err
		}
		for _, f := range pack {
			base := filepath.Base(f.Name)
			if slices.ContainsFunc(custom, func(c mapping.File) bool { return filepath.Base(c.Name) == base }) {
				l.Replaced = append(l.Replaced, base)
				continue
			}
			files = append(files, f)
		}
	}
	files = append(files, custom...)
	if len(src.Instance) > 0 {
		files = append(files, mapping.File{Name: src.InstancePath + ":mappings", Data: src.Instance, Layer: mapping.LayerInstance})
	}
	set, err := mapping.Compile(files)
	if err != nil {
		return nil, err
	}
	l.Set, l.Files = set, files
	return l, nil
}

// integratorFiles reads the integrator's layer.
func integratorFiles(src Sources) ([]mapping.File, error) {
	if len(src.Files) > 0 {
		var out []mapping.File
		for _, p := range src.Files {
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("mapping file: %w", err)
			}
			out = append(out, mapping.File{Name: p, Data: data, Layer: mapping.LayerCustom})
		}
		return out, nil
	}
	if src.Dir == "" {
		return nil, nil
	}
	st, err := os.Stat(src.Dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("mappings directory: %w", err)
	case !st.IsDir():
		return nil, fmt.Errorf("mappings directory %s: not a directory", src.Dir)
	}
	return mapping.LoadFS(os.DirFS(src.Dir), "*.yaml", mapping.LayerCustom, src.Dir)
}

// Summary says in one line which files each layer holds, for logs and the
// tools' output, e.g. "generic: builtin:generic.yaml; pack: 4 built-in
// files; custom: /app/mappings/soil.yaml; instance: none".
func (l *Loaded) Summary() string {
	byLayer := map[mapping.Layer][]string{}
	for _, f := range l.Files {
		byLayer[f.Layer] = append(byLayer[f.Layer], f.Name)
	}
	pack := fmt.Sprintf("%d built-in files", len(byLayer[mapping.LayerPack]))
	switch {
	case l.PackReplaced:
		pack = "left out (replaced by the custom files)"
	case len(l.Replaced) > 0:
		pack += ", " + strings.Join(l.Replaced, ", ") + " replaced by custom files of the same name"
	}
	list := func(names []string) string {
		if len(names) == 0 {
			return "none"
		}
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("generic: %s; pack: %s; custom: %s; instance: %s",
		list(byLayer[mapping.LayerGeneric]), pack, list(byLayer[mapping.LayerCustom]), list(byLayer[mapping.LayerInstance]))
}

// Export writes the built-in pack's files into dir, for editing; it
// refuses to overwrite a file that exists.
func Export(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("export pack: %w", err)
	}
	names, err := fs.Glob(mappings.Files, "*.yaml")
	if err != nil {
		return nil, fmt.Errorf("export pack: %w", err)
	}
	var written []string
	for _, n := range names {
		data, err := fs.ReadFile(mappings.Files, n)
		if err != nil {
			return written, fmt.Errorf("export pack: %w", err)
		}
		p := filepath.Join(dir, n)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return written, fmt.Errorf("export pack: %w", err)
		}
		_, werr := f.Write(data)
		cerr := f.Close()
		if err := errors.Join(werr, cerr); err != nil {
			return written, fmt.Errorf("export pack: %s: %w", p, err)
		}
		written = append(written, p)
	}
	return written, nil
}
