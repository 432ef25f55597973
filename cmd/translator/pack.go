package main

import (
	"fmt"
	"io"

	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/ruleset"
)

// runPack is `translator pack export DIR`: it writes the built-in mapping
// pack into DIR. A file there named like a pack file replaces that file
// when the daemon loads DIR as its mappings folder; other files add to the
// pack.
func runPack(args []string, stdout io.Writer) error {
	fs := newFlagSet("pack")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() != 2 || fs.Arg(0) != "export" {
		return usageError{"pack: use `translator pack export DIR`"}
	}
	written, err := ruleset.Export(fs.Arg(1))
	for _, p := range written {
		fmt.Fprintln(stdout, "wrote", p)
	}
	return err
}
