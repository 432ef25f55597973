// Package test holds the replay suite: every directory under testdata/
// is a recorded Zigbee2MQTT session with the IoT2MQTT publications it must
// produce. Run `go test ./test -update` to rewrite the expectations after an
// intended change, and review the diff.
package test

import (
	"flag"
	"path/filepath"
	"testing"

	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/replay"
)

var update = flag.Bool("update", false, "rewrite expected.jsonl of every case")

func TestReplay(t *testing.T) {
	cases, err := replay.Cases("testdata")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 15 {
		t.Errorf("only %d replay cases; the suite promises at least 15", len(cases))
	}
	for _, dir := range cases {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			o, err := replay.Run(dir, replay.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := replay.Update(dir, o); err != nil {
					t.Fatal(err)
				}
				return
			}
			if len(o.Want) == 0 {
				t.Fatalf("%s has no expected.jsonl (run go test ./test -update)", dir)
			}
			if !o.OK() {
				t.Errorf("publications differ from %s/expected.jsonl (- expected, + got):\n%s", dir, o.Diff)
			}
		})
	}
}
