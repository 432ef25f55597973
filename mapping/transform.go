package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Values flowing through transforms are plain JSON values as decoded by
// encoding/json: float64, string, bool, nil, map[string]any and []any.

// ErrDrop is returned by a transform step that deliberately produces nothing
// (a map with `otherwise: drop`). The rule then writes nothing.
var ErrDrop = errors.New("value dropped by transform")

// Step is one compiled transform.
type Step interface {
	// Read converts a Zigbee2MQTT value to an IoT2MQTT value.
	Read(v any) (any, error)
	// Write converts an IoT2MQTT value back to a Zigbee2MQTT value.
	Write(v any) (any, error)
	// Name is the transform's name in the rule language.
	Name() string
}

// Chain is a compiled transform chain.
type Chain []Step

// Read applies every step in order.
func (c Chain) Read(v any) (any, error) {
	var err error
	for _, s := range c {
		if v, err = s.Read(v); err != nil {
			return nil, wrapStep(s, err)
		}
	}
	return v, nil
}

// Write applies the inverse of every step in reverse order.
func (c Chain) Write(v any) (any, error) {
	var err error
	for i := len(c) - 1; i >= 0; i-- {
		if v, err = c[i].Write(v); err != nil {
			return nil, wrapStep(c[i], err)
		}
	}
	return v, nil
}

func wrapStep(s Step, err error) error {
	if errors.Is(err, ErrDrop) {
		return err
	}
	return fmt.Errorf("%s: %w", s.Name(), err)
}

func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case int:
		return float64(x), nil
	case json.Number:
		return x.Float64()
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, fmt.Errorf("want a number, got %q", x)
		}
		return f, nil
	case bool:
		return 0, fmt.Errorf("want a number, got %v", x)
	case nil:
		return 0, errors.New("want a number, got null")
	}
	return 0, fmt.Errorf("want a number, got %T", v)
}

func roundTo(f float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(f*p) / p
}

// scaleStep maps [inMin,inMax] linearly onto [outMin,outMax].
type scaleStep struct {
	inMin, inMax, outMin, outMax float64
	precision, reversePrecision  int // -1: no rounding
}

func (s *scaleStep) Name() string { return "scale" }

func (s *scaleStep) Read(v any) (any, error) {
	f, err := toFloat(v)
	if err != nil {
		return nil, err
	}
	out := s.outMin + (f-s.inMin)*(s.outMax-s.outMin)/(s.inMax-s.inMin)
	if s.precision >= 0 {
		out = roundTo(out, s.precision)
	}
	return out, nil
}

func (s *scaleStep) Write(v any) (any, error) {
	f, err := toFloat(v)
	if err != nil {
		return nil, err
	}
	out := s.inMin + (f-s.outMin)*(s.inMax-s.inMin)/(s.outMax-s.outMin)
	if s.reversePrecision >= 0 {
		out = roundTo(out, s.reversePrecision)
	}
	return out, nil
}

// mapStep maps values through a table, by their text form.
type mapStep struct {
	read      map[string]any
	write     map[string]any
	otherwise string // pass, drop, error; "" (not given) passes
	pos       Pos    // of the map in its file
}

func (m *mapStep) Name() string { return "map" }

// valueKey is the text form used to look a value up in a map table.
func valueKey(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (m *mapStep) lookup(table map[string]any, v any) (any, error) {
	if out, ok := table[valueKey(v)]; ok {
		return out, nil
	}
	// Text values match case-insensitively as a fallback (ON, On, on).
	if s, ok := v.(string); ok {
		for k, out := range table {
			if strings.EqualFold(k, s) {
				return out, nil
			}
		}
	}
	switch m.otherwise {
	case "drop":
		return nil, ErrDrop
	case "error":
		return nil, fmt.Errorf("value %s is not in the map", valueKey(v))
	}
	return v, nil
}

func (m *mapStep) Read(v any) (any, error)  { return m.lookup(m.read, v) }
func (m *mapStep) Write(v any) (any, error) { return m.lookup(m.write, v) }

// miredKelvinStep converts mired to Kelvin (and back); 1e6/x both ways.
type miredKelvinStep struct{}

func (miredKelvinStep) Name() string { return "mired_kelvin" }

func (miredKelvinStep) Read(v any) (any, error) {
	f, err := toFloat(v)
	if err != nil {
		return nil, err
	}
	if f <= 0 {
		return nil, fmt.Errorf("%v is not a positive colour temperature", f)
	}
	return math.Round(1e6 / f), nil
}

func (s miredKelvinStep) Write(v any) (any, error) { return s.Read(v) }

// clampStep limits a number to [min,max] in both directions.
type clampStep struct{ min, max float64 }

func (clampStep) Name() string { return "clamp" }

func (c clampStep) Read(v any) (any, error) {
	f, err := toFloat(v)
	if err != nil {
		return nil, err
	}
	return math.Max(c.min, math.Min(c.max, f)), nil
}

func (c clampStep) Write(v any) (any, error) { return c.Read(v) }

// invertStep mirrors a number inside [min,max]: min+max-x. It is its own
// inverse.
type invertStep struct{ min, max float64 }

func (invertStep) Name() string { return "invert" }

func (s invertStep) Read(v any) (any, error) {
	switch x := v.(type) {
	case bool:
		return !x, nil
	}
	f, err := toFloat(v)
	if err != nil {
		return nil, err
	}
	return s.min + s.max - f, nil
}

func (s invertStep) Write(v any) (any, error) { return s.Read(v) }

// roundStep rounds read values; commands pass unchanged.
type roundStep struct{ decimals int }

func (roundStep) Name() string { return "round" }

func (r roundStep) Read(v any) (any, error) {
	f, err := toFloat(v)
	if err != nil {
		return nil, err
	}
	return roundTo(f, r.decimals), nil
}

func (roundStep) Write(v any) (any, error) { return v, nil }

// renameStep renames keys of an object value.
type renameStep struct{ read, write map[string]string }

func (renameStep) Name() string { return "rename" }

func renameKeys(v any, names map[string]string) (any, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want an object, got %s", valueKey(v))
	}
	out := make(map[string]any, len(obj))
	for k, x := range obj {
		if n, ok := names[k]; ok {
			k = n
		}
		out[k] = x
	}
	return out, nil
}

func (r renameStep) Read(v any) (any, error)  { return renameKeys(v, r.read) }
func (r renameStep) Write(v any) (any, error) { return renameKeys(v, r.write) }

// unitStep converts between units of one quantity: base = value*factor+offset.
type unitStep struct {
	from, to  unitDef
	precision int
	pos       Pos // of the step in its file
}

type unitDef struct {
	quantity       string
	factor, offset float64
}

// units are the conversions `unit:` knows, relative to a base unit per quantity.
var units = map[string]unitDef{
	"°C": {"temperature", 1, 0}, "°F": {"temperature", 5.0 / 9, -32 * 5.0 / 9}, "K": {"temperature", 1, -273.15},
	"Pa": {"pressure", 0.01, 0}, "hPa": {"pressure", 1, 0}, "mbar": {"pressure", 1, 0}, "kPa": {"pressure", 10, 0},
	"bar": {"pressure", 1000, 0}, "psi": {"pressure", 68.9476, 0}, "inHg": {"pressure", 33.8639, 0}, "mmHg": {"pressure", 1.33322, 0},
	"W": {"power", 1, 0}, "kW": {"power", 1000, 0}, "mW": {"power", 0.001, 0},
	"Wh": {"energy", 1, 0}, "kWh": {"energy", 1000, 0}, "MWh": {"energy", 1e6, 0},
	"V": {"voltage", 1, 0}, "mV": {"voltage", 0.001, 0},
	"A": {"current", 1, 0}, "mA": {"current", 0.001, 0},
	"m": {"length", 1, 0}, "cm": {"length", 0.01, 0}, "mm": {"length", 0.001, 0},
	"s": {"time", 1, 0}, "ms": {"time", 0.001, 0}, "min": {"time", 60, 0}, "h": {"time", 3600, 0},
}

func (unitStep) Name() string { return "unit" }

func (u unitStep) convert(v any, from, to unitDef) (any, error) {
	f, err := toFloat(v)
	if err != nil {
		return nil, err
	}
	base := f*from.factor + from.offset
	out := (base - to.offset) / to.factor
	if u.precision >= 0 {
		out = roundTo(out, u.precision)
	}
	return out, nil
}

func (u unitStep) Read(v any) (any, error) { return u.convert(v, u.from, u.to) }

func (u unitStep) Write(v any) (any, error) {
	w := u
	w.precision = -1
	return w.convert(v, u.to, u.from)
}

// Normalize converts YAML-decoded values (ints, nested maps and lists) to
// the JSON value types transforms work with.
func Normalize(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, vv := range x {
			out[k] = Normalize(vv)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, vv := range x {
			out[i] = Normalize(vv)
		}
		return out
	}
	return v
}
