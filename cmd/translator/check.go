package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
)

// runCheck validates mapping files and prints every problem as
// file:line:col: field: message. The exit code is 1 when any file is invalid.
func runCheck(args []string, stdout io.Writer) error {
	fs := newFlagSet("check")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	paths := fs.Args()
	if len(paths) == 0 {
		dir := os.Getenv("MAPPINGS_DIR")
		if dir == "" {
			dir = "mappings"
		}
		matches, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			return err
		}
		paths = matches
	}
	files := []mapping.File{mapping.GenericFile()}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("check: %w", err)
		}
		files = append(files, mapping.File{Name: p, Data: data, Layer: mapping.LayerPack})
	}
	set, err := mapping.Compile(files)
	if err != nil {
		if list, ok := err.(mapping.ErrorList); ok {
			for _, e := range list {
				fmt.Fprintf(stdout, "%s\n", e)
			}
			return exitError{code: 1}
		}
		return err
	}
	fmt.Fprintf(stdout, "ok: %d files, %d blocks\n", len(paths), len(set.Blocks())-1)
	return nil
}
