package mapping_test

import (
	"strings"
	"testing"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
)

// TestCompile_Aliases: anchors reused a few times compile; an alias bomb (a
// few hundred bytes that expand to millions of values) fails fast with one
// error instead of exhausting CPU and memory.
func TestCompile_Aliases(t *testing.T) {
	// Three levels of aliases: n blocks of n rules of n transforms.
	bomb := func(n int) string {
		refs := func(name string) string { return strings.Repeat(", *"+name, n-1) }
		return "blocks: [&b {name: n, rules: [&r {from: a, transform: [&t {map: {values: {a: 1}}}" + refs("t") + "]}" + refs("r") + "]}" + refs("b") + "]\n"
	}
	cases := []struct {
		name    string
		yaml    string
		wantErr string
	}{
		{"reused anchor", "blocks:\n  - name: a\n    rules:\n      - {from: state, to: power, transform: &onoff [{map: {\"ON\": true, \"OFF\": false}}]}\n  - name: b\n    rules:\n      - {from: state_l1, to: power_l1, transform: *onoff}\n", ""},
		{"alias bomb", bomb(100), "aliases expand to more than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := mapping.Compile([]mapping.File{{Name: "f.yaml", Data: []byte(tc.yaml), Layer: mapping.LayerPack}})
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("compile took %s", took)
			}
			got := ""
			if err != nil {
				got = err.Error()
			}
			if tc.wantErr == "" && got != "" || !strings.Contains(got, tc.wantErr) {
				t.Errorf("error = %.300q, want one containing %q", got, tc.wantErr)
			}
			if n := strings.Count(got, "\n"); n > 10 {
				t.Errorf("error has %d lines, want a short list", n+1)
			}
		})
	}
}
