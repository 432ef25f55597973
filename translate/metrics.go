package translate

import (
	"maps"
	"slices"
	"strings"

	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
)

// ruleStats counts what one rule did.
type ruleStats struct{ matched, skipped, failed int64 }

// counters are the engine's metrics. Only the engine goroutine touches them.
type counters struct {
	in       map[string]int64 // by kind of inbound message
	out      int64
	commands map[string]int64 // by outcome
	rules    map[*mapping.Rule]*ruleStats
}

func newCounters() counters {
	return counters{in: map[string]int64{}, commands: map[string]int64{}, rules: map[*mapping.Rule]*ruleStats{}}
}

func (c *counters) rule(r *mapping.Rule) *ruleStats {
	s := c.rules[r]
	if s == nil {
		s = &ruleStats{}
		c.rules[r] = s
	}
	return s
}

// Metrics is a snapshot of the engine's counters.
type Metrics struct {
	In       map[string]int64 // messages received, by kind
	Out      int64            // messages published
	Commands map[string]int64 // command outcomes
	Rules    []RuleMetrics    // by rule id
	Devices  int              // devices known from bridge/devices
}

// RuleMetrics counts what one rule did.
type RuleMetrics struct {
	ID, Block, Layer         string
	Matched, Skipped, Failed int64
}

// Metrics returns a snapshot of the engine's counters. Call it on the
// engine's goroutine.
func (e *Engine) Metrics() Metrics {
	c := &e.stats
	m := Metrics{In: maps.Clone(c.in), Out: c.out, Commands: maps.Clone(c.commands), Devices: len(e.devices)}
	for r, s := range c.rules {
		m.Rules = append(m.Rules, RuleMetrics{ID: r.ID(), Block: r.Block.Name, Layer: r.Block.Layer.String(), Matched: s.matched, Skipped: s.skipped, Failed: s.failed})
	}
	slices.SortFunc(m.Rules, func(a, b RuleMetrics) int { return strings.Compare(a.ID, b.ID) })
	return m
}
