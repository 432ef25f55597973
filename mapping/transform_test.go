package mapping_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
)

// compileRule compiles a one-rule file and returns the rule.
func compileRule(t *testing.T, rule string) *mapping.Rule {
	t.Helper()
	src := "blocks:\n  - name: t\n    rules:\n      - " + rule + "\n"
	set, err := mapping.Compile([]mapping.File{{Name: "t.yaml", Data: []byte(src), Layer: mapping.LayerPack}})
	if err != nil {
		t.Fatalf("compile %q: %v", rule, err)
	}
	return set.Blocks()[0].Rules[0]
}

func TestTransform_ReadWrite(t *testing.T) {
	cases := []struct {
		name      string
		rule      string
		z2m, iot  any // Read(z2m) == iot
		writeWant any // Write(iot); nil means z2m
	}{
		{"scale brightness full", `{from: brightness, transform: [{scale: {from: [0, 254], to: [0, 100], precision: 0}}]}`, 254.0, 100.0, nil},
		{"scale brightness half", `{from: brightness, transform: [{scale: {from: [0, 254], to: [0, 100], precision: 0}}]}`, 127.0, 50.0, nil},
		{"scale rounds commands to integers", `{from: brightness, transform: [{scale: {from: [0, 254], to: [0, 100], precision: 0}}]}`, 3.0, 1.0, 3.0},
		{"map on", `{from: state, to: power, transform: [{map: {"ON": true, "OFF": false}}]}`, "ON", true, nil},
		{"map off", `{from: state, to: power, transform: [{map: {"ON": true, "OFF": false}}]}`, "OFF", false, nil},
		{"map passes unknown", `{from: state, transform: [{map: {"ON": true}}]}`, "TOGGLE", "TOGGLE", nil},
		{"mired to kelvin", `{from: color_temp, transform: [mired_kelvin]}`, 250.0, 4000.0, nil},
		{"mired to kelvin warm", `{from: color_temp, transform: [mired_kelvin]}`, 370.0, 2703.0, 370.0},
		{"color xy red", `{from: color, to: rgb, transform: [{color: {}}]}`, map[string]any{"x": 0.6401, "y": 0.33}, "#FF0000", map[string]any{"x": 0.6401, "y": 0.33}},
		{"color hs green", `{from: color, to: rgb, transform: [{color: {write: hs}}]}`, map[string]any{"hue": 120.0, "saturation": 100.0}, "#00FF00", map[string]any{"hue": 120.0, "saturation": 100.0}},
		{"color hex write", `{from: color, to: rgb, transform: [{color: {write: hex}}]}`, map[string]any{"hex": "#0000FF"}, "#0000FF", map[string]any{"hex": "#0000FF"}},
		{"clamp", `{from: level, transform: [{clamp: {min: 0, max: 100}}]}`, 150.0, 100.0, 100.0},
		{"invert position", `{from: position, transform: [{invert: {min: 0, max: 100}}]}`, 30.0, 70.0, nil},
		{"invert bool", `{from: open, transform: [{invert: {min: 0, max: 1}}]}`, true, false, nil},
		{"unit F to C", `{from: temperature, transform: [{unit: {from: "°F", to: "°C", precision: 1}}]}`, 68.0, 20.0, nil},
		{"unit Wh to kWh", `{from: energy, transform: [{unit: {from: Wh, to: kWh}}]}`, 1500.0, 1.5, nil},
		{"rename keys", `{from: color, transform: [{rename: {hue: h, saturation: s}}]}`, map[string]any{"hue": 10.0, "saturation": 20.0}, map[string]any{"h": 10.0, "s": 20.0}, nil},
		{"round", `{from: temperature, direction: read, transform: [{round: 1}]}`, 21.456, 21.5, 21.5},
		{"chain scale then clamp", `{from: brightness, transform: [{scale: {from: [0, 254], to: [0, 100], precision: 0}}, {clamp: {min: 1, max: 100}}]}`, 0.0, 1.0, 3.0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := compileRule(t, tc.rule)
			got, err := r.Read.Read(tc.z2m)
			if err != nil {
				t.Fatalf("Read(%v): %v", tc.z2m, err)
			}
			if !equal(got, tc.iot) {
				t.Errorf("Read(%v) = %v, want %v", tc.z2m, got, tc.iot)
			}
			want := tc.writeWant
			if want == nil {
				want = tc.z2m
			}
			back, err := r.Write(tc.iot)
			if err != nil {
				t.Fatalf("Write(%v): %v", tc.iot, err)
			}
			if !equal(back, want) {
				t.Errorf("Write(%v) = %v, want %v", tc.iot, back, want)
			}
		})
	}
}

// equal compares transform values, allowing 0.002 on numbers (colour xy).
func equal(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && math.Abs(x-y) <= 0.002
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if !equal(v, y[k]) {
				return false
			}
		}
		return true
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// TestTransform_RoundTrip checks decode(encode(x)) == x over each
// transform's IoT2MQTT domain: encode is the command direction (Write),
// decode the state direction (Read).
func TestTransform_RoundTrip(t *testing.T) {
	cases := []struct {
		name   string
		rule   string
		domain []any
		tol    float64
	}{
		{"brightness 0-100", `{from: brightness, transform: [{scale: {from: [0, 254], to: [0, 100], precision: 0}}]}`, ints(0, 100, 1), 0},
		{"power", `{from: state, transform: [{map: {"ON": true, "OFF": false}}]}`, []any{true, false}, 0},
		{"kelvin 2200-6500", `{from: color_temp, transform: [mired_kelvin]}`, ints(2200, 6500, 50), 0.005},
		{"position inverted", `{from: position, transform: [{invert: {min: 0, max: 100}}]}`, ints(0, 100, 5), 0},
		{"celsius via fahrenheit", `{from: temperature, transform: [{unit: {from: "°F", to: "°C", precision: 2}}]}`, []any{-10.0, 0.0, 21.5, 37.25}, 0},
		{"kWh", `{from: energy, transform: [{unit: {from: Wh, to: kWh}}]}`, []any{0.0, 1.234, 99.5}, 0},
		{"saturated colours", `{from: color, transform: [{color: {}}]}`, []any{"#FF0000", "#00FF00", "#0000FF", "#FFFFFF", "#FF8000", "#00FFFF"}, 0},
		{"saturated colours hs", `{from: color, transform: [{color: {write: hs}}]}`, []any{"#FF0000", "#00FF00", "#0000FF", "#FF00FF"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := compileRule(t, tc.rule)
			for _, x := range tc.domain {
				enc, err := r.Write(x)
				if err != nil {
					t.Fatalf("Write(%v): %v", x, err)
				}
				dec, err := r.Read.Read(enc)
				if err != nil {
					t.Fatalf("Read(%v): %v", enc, err)
				}
				if f, ok := x.(float64); ok && tc.tol > 0 {
					if got := dec.(float64); math.Abs(got-f) > tc.tol*f {
						t.Errorf("decode(encode(%v)) = %v", x, got)
					}
					continue
				}
				if !colorClose(dec, x) && !equal(dec, x) {
					t.Errorf("decode(encode(%v)) = %v (via %v)", x, dec, enc)
				}
			}
		})
	}
}

// colorClose accepts a one-step difference per channel from xy rounding.
func colorClose(a, b any) bool {
	sa, ok1 := a.(string)
	sb, ok2 := b.(string)
	if !ok1 || !ok2 || len(sa) != 7 || len(sb) != 7 {
		return false
	}
	for i := 1; i < 7; i += 2 {
		var x, y int
		fmt.Sscanf(sa[i:i+2], "%x", &x)
		fmt.Sscanf(sb[i:i+2], "%x", &y)
		if x-y > 3 || y-x > 3 {
			return false
		}
	}
	return true
}

func ints(from, to, step int) []any {
	var out []any
	for i := from; i <= to; i += step {
		out = append(out, float64(i))
	}
	return out
}

func TestTransform_MapWriteExtrasAndOtherwise(t *testing.T) {
	r := compileRule(t, `{from: state, to: power, transform: [{map: {values: {"ON": true, "OFF": false}, write: {toggle: TOGGLE}}}]}`)
	if got, err := r.Write("toggle"); err != nil || got != "TOGGLE" {
		t.Errorf("Write(toggle) = %v, %v; want TOGGLE", got, err)
	}
	drop := compileRule(t, `{from: mode, direction: read, transform: [{map: {values: {a: 1}, otherwise: drop}}]}`)
	if _, err := drop.Read.Read("b"); err != mapping.ErrDrop {
		t.Errorf("otherwise: drop gave %v, want ErrDrop", err)
	}
	strict := compileRule(t, `{from: mode, direction: read, transform: [{map: {values: {a: 1}, otherwise: error}}]}`)
	if _, err := strict.Read.Read("b"); err == nil {
		t.Error("otherwise: error accepted an unknown value")
	}
}
