package main

import (
	"fmt"
	"io"
	"os"

	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/replay"
	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/ruleset"
)

// runReplay replays fixtures through the engine and prints a diff for each
// mismatch; the exit code is 1 when any fixture differs.
func runReplay(args []string, stdout io.Writer) error {
	fs := newFlagSet("replay")
	update := fs.Bool("update", false, "rewrite expected.jsonl with the current output")
	mappingsDir := fs.String("mappings", ruleset.DefaultDir(os.Getenv), "the custom mapping files' folder, on top of the built-in pack ($MAPPINGS_DIR, else $IOT2MQTT_PATH/mappings); a fixture's own mappings/ takes its place")
	replacePack := fs.Bool("replace-pack", false, "leave the built-in pack out: only the custom files apply")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	dirs := fs.Args()
	if len(dirs) == 0 {
		return usageError{"replay needs at least one fixture directory"}
	}
	failed := 0
	for _, dir := range dirs {
		o, err := replay.Run(dir, replay.Options{MappingsDir: *mappingsDir, ReplacePack: *replacePack})
		if err != nil {
			return fmt.Errorf("replay %s: %w", dir, err)
		}
		fmt.Fprintf(stdout, "rules for %s: %s\n", dir, o.Rules)
		switch {
		case *update:
			if err := replay.Update(dir, o); err != nil {
				return fmt.Errorf("replay %s: %w", dir, err)
			}
			fmt.Fprintf(stdout, "updated %s (%d publications)\n", dir, len(o.Got))
		case o.OK():
			fmt.Fprintf(stdout, "ok   %s (%d publications)\n", dir, len(o.Got))
		default:
			failed++
			fmt.Fprintf(stdout, "FAIL %s: publications differ (- expected, + got)\n%s", dir, o.Diff)
		}
	}
	if failed > 0 {
		return exitError{code: 1}
	}
	return nil
}
