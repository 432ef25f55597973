package replay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/ruleset"
	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/wiring"
	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
	"github.com/iot2mqtt/zigbee2mqtt-translator/upstream"
)

// Start is the clock at t=0 of every replay, so outputs are reproducible.
var Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Instance is the instance id fixtures use.
const Instance = "zb"

// Options control a replay.
type Options struct {
	// MappingsDir holds the integrator's mapping files, which add to the
	// built-in pack as in the daemon; a fixture's own mappings/ directory
	// takes its place.
	MappingsDir string
	// ReplacePack leaves the built-in pack out.
	ReplacePack bool
}

// Outcome is the result of replaying one fixture.
type Outcome struct {
	// Rules says which files each rule layer held (ruleset.Loaded.Summary).
	Rules string
	Got   []Line
	Want  []Line
	// Diff is empty when Got equals Want.
	Diff string
}

// OK reports whether the replay matched its expectations.
func (o *Outcome) OK() bool { return o.Diff == "" }

// Run replays the fixture in dir.
func Run(dir string, opts Options) (*Outcome, error) {
	input, err := ReadLines(filepath.Join(dir, "input.jsonl"))
	if err != nil {
		return nil, err
	}
	engine, rules, err := newEngine(dir, opts)
	if err != nil {
		return nil, err
	}
	o := &Outcome{Rules: rules}
	for _, in := range input {
		now := Start.Add(time.Duration(in.T * float64(time.Second)))
		o.Got = append(o.Got, lines(engine.Tick(now))...)
		if in.Tick {
			continue
		}
		msg := translate.Message{Topic: in.Topic, Payload: in.Bytes(), QoS: in.QoS, Retain: in.Retain}
		o.Got = append(o.Got, lines(engine.Handle(msg, now))...)
	}
	wantPath := filepath.Join(dir, "expected.jsonl")
	o.Want, err = ReadLines(wantPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	o.Diff = Diff(format(o.Want), format(o.Got))
	return o, nil
}

// Update rewrites the fixture's expected.jsonl with what the engine
// publishes now.
func Update(dir string, o *Outcome) error {
	return WriteLines(filepath.Join(dir, "expected.jsonl"), o.Got)
}

func format(ls []Line) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		if l.Payload != nil {
			l.Payload = canonical(l.Payload)
		}
		out[i] = FormatLine(l)
	}
	return out
}

func newEngine(dir string, opts Options) (*translate.Engine, string, error) {
	inst := &upstream.Instance{ConnectorType: "zigbee2mqtt", Z2MBaseTopic: "zigbee2mqtt", StateKeyTopics: true,
		CommandTimeoutMS: 10000, SleepyCommandTimeoutMS: 60000}
	instPath := filepath.Join(dir, "instance.json")
	if data, err := os.ReadFile(instPath); err == nil {
		inst, err = upstream.ParseInstance(data, Instance, "/tmp")
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", instPath, err)
		}
	}
	loaded, err := ruleset.Load(ruleset.Sources{Dir: ruleset.FixtureDir(dir, opts.MappingsDir), ReplacePack: opts.ReplacePack, Instance: inst.Mappings, InstancePath: instPath})
	if err != nil {
		return nil, "", err
	}
	set := loaded.Set
	loc := time.UTC
	tzPath := filepath.Join(dir, "timezone")
	if data, err := os.ReadFile(tzPath); err == nil {
		if loc, err = time.LoadLocation(strings.TrimSpace(string(data))); err != nil {
			return nil, "", fmt.Errorf("%s: %w", tzPath, err)
		}
	}
	return translate.New(wiring.EngineConfig(inst, translate.Config{
		Location:    loc,
		BaseTopic:   "IoT2mqtt",
		InstanceID:  Instance,
		QoS:         1,
		RetainState: true,
		Version:     "replay",
		Mode:        "translator-only",
		StartedAt:   Start,
	}), set), loaded.Summary(), nil
}

// lines converts publications to expected-file lines with timestamps
// normalised.
func lines(r translate.Result) []Line {
	out := make([]Line, 0, len(r.Publish))
	for _, m := range r.Publish {
		l := Line{Topic: m.Topic, QoS: m.QoS, Retain: m.Retain}
		l.SetPayload(m.Payload)
		if l.Payload != nil {
			l.Payload = normaliseTimestamps(l.Payload)
		}
		out = append(out, l)
	}
	return out
}

var timestampKeys = map[string]bool{"timestamp": true, "last_update": true}

func normaliseTimestamps(raw json.RawMessage) json.RawMessage {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return raw
	}
	var walk func(any) any
	walk = func(x any) any {
		switch t := x.(type) {
		case map[string]any:
			for k, vv := range t {
				if _, isString := vv.(string); isString && timestampKeys[k] {
					t[k] = "<ts>"
					continue
				}
				t[k] = walk(vv)
			}
		case []any:
			for i := range t {
				t[i] = walk(t[i])
			}
		}
		return x
	}
	out, err := marshal(walk(v))
	if err != nil {
		return raw
	}
	return out
}

// Diff is a unified-style line diff: "-" lines are expected but missing,
// "+" lines are published but not expected. It is empty when a equals b.
func Diff(want, got []string) string {
	n, m := len(want), len(got)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if want[i] == got[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var b strings.Builder
	changed := false
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && want[i] == got[j]:
			b.WriteString("  " + want[i] + "\n")
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			b.WriteString("+ " + got[j] + "\n")
			changed = true
			j++
		default:
			b.WriteString("- " + want[i] + "\n")
			changed = true
			i++
		}
	}
	if !changed {
		return ""
	}
	return b.String()
}
