package translate

import (
	"fmt"
	"io"
	"sort"

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

// WriteMetrics writes the engine's counters in the Prometheus text format.
// Call it on the engine's goroutine.
func (e *Engine) WriteMetrics(w io.Writer) {
	c := &e.stats
	fmt.Fprintln(w, "# HELP translator_messages_in_total Messages received, by kind.")
	fmt.Fprintln(w, "# TYPE translator_messages_in_total counter")
	for _, k := range sortedKeys(c.in) {
		fmt.Fprintf(w, "translator_messages_in_total{kind=%q} %d\n", k, c.in[k])
	}
	fmt.Fprintln(w, "# HELP translator_messages_out_total Messages published.")
	fmt.Fprintln(w, "# TYPE translator_messages_out_total counter")
	fmt.Fprintf(w, "translator_messages_out_total %d\n", c.out)
	fmt.Fprintln(w, "# HELP translator_commands_total Command outcomes (success, error, timeout, rejected).")
	fmt.Fprintln(w, "# TYPE translator_commands_total counter")
	for _, k := range sortedKeys(c.commands) {
		fmt.Fprintf(w, "translator_commands_total{outcome=%q} %d\n", k, c.commands[k])
	}
	type row struct {
		id, block, layer string
		s                *ruleStats
	}
	var rows []row
	for r, s := range c.rules {
		rows = append(rows, row{r.ID(), r.Block.Name, r.Block.Layer.String(), s})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].id < rows[j].id })
	fmt.Fprintln(w, "# HELP translator_rule_applications_total Rule applications by result (matched, skipped, failed).")
	fmt.Fprintln(w, "# TYPE translator_rule_applications_total counter")
	for _, r := range rows {
		for _, res := range []struct {
			name string
			n    int64
		}{{"matched", r.s.matched}, {"skipped", r.s.skipped}, {"failed", r.s.failed}} {
			fmt.Fprintf(w, "translator_rule_applications_total{rule=%q,block=%q,layer=%q,result=%q} %d\n", r.id, r.block, r.layer, res.name, res.n)
		}
	}
	fmt.Fprintln(w, "# HELP translator_devices Devices known from bridge/devices.")
	fmt.Fprintln(w, "# TYPE translator_devices gauge")
	fmt.Fprintf(w, "translator_devices %d\n", len(e.devices))
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
