package mapping

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
)

// Finding is one result of checking rules against devices' exposes.
type Finding struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Level  string `json:"level"` // error, warning, info
	Msg    string `json:"message"`
}

// String renders file:line:col: level: message.
func (f Finding) String() string {
	return fmt.Sprintf("%s:%d:%d: %s: %s", f.File, f.Line, f.Column, f.Level, f.Msg)
}

// Check lints the rule set against real devices (from a bridge/devices
// capture): writes to properties without the set access bit, enum labels
// that are not in the expose's values, command values outside
// value_min/value_max, unit mismatches, rules shadowed on every device they
// select, bidirectional rules that fail the round trip over the expose's
// range or values, properties moved off a state key another property or
// the engine claims, and exposes reached only by the generic layer.
func Check(s *Set, devices []Device) []Finding {
	c := &checker{seen: map[string]bool{}}
	bound := map[*Rule]int{}
	selected := map[*Rule]int{}
	winner := map[*Rule]*Rule{}
	for i := range devices {
		d := &devices[i]
		p := s.Plan(d)
		for _, b := range p.Rules {
			bound[b.Rule]++
			if b.Renamed != "" {
				c.add(b.Rule.Pos, b.Rule.Block.File, "warning", fmt.Sprintf("%s (%s): %s collides on its target: %s; it is published as %q", d.FriendlyName, d.Model, b.From, b.Renamed, b.To))
			}
			if b.Rule.Block.Layer == LayerGeneric {
				continue
			}
			c.checkBound(d, b)
		}
		for _, blk := range p.Blocks {
			for _, r := range blk.Rules {
				selected[r]++
				if w := overriddenBy(p, r, d); w != nil {
					winner[r] = w
				}
			}
		}
		for _, prop := range d.Properties {
			generic, key := true, p.PassKey(prop.Property)
			for _, b := range p.Rules {
				if b.From != prop.Property {
					continue
				}
				if b.Rule.Block.Layer != LayerGeneric {
					generic = false
				} else if b.Rule.CanRead() {
					key = b.To
				}
			}
			if generic && !p.Events[prop.Property] && p.KeepKey(prop.Property) {
				c.add(Pos{}, "builtin:generic.yaml", "info", fmt.Sprintf("%s (%s): expose %q reaches state only through the generic layer, as %q", d.FriendlyName, d.Model, prop.Property, key))
			}
		}
	}
	for _, blk := range s.blocks {
		if blk.Layer == LayerGeneric {
			continue
		}
		for _, r := range blk.Rules {
			if selected[r] > 0 && bound[r] == 0 && winner[r] != nil {
				w := winner[r]
				c.add(r.Pos, r.Block.File, "warning", fmt.Sprintf("rule %s → %s is shadowed on every device it selects by %s (block %q)", r.From, r.To, w.ID(), w.Block.Name))
			}
		}
	}
	sort.SliceStable(c.out, func(i, j int) bool {
		a, b := c.out[i], c.out[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Msg < b.Msg
	})
	return c.out
}

// overriddenBy returns the rule that replaced r in plan p for device d.
func overriddenBy(p *Plan, r *Rule, d *Device) *Rule {
	froms := []string{r.From}
	if r.expose != nil {
		froms = nil
		for i := range d.Properties {
			if r.expose.match(&d.Properties[i]) {
				froms = append(froms, expand(r.From, &d.Properties[i]))
			}
		}
	}
	for _, b := range p.Rules {
		for _, f := range froms {
			if b.From == f && b.Rule != r && b.Rule.CanRead() == r.CanRead() {
				return b.Rule
			}
		}
	}
	return nil
}

type checker struct {
	out  []Finding
	seen map[string]bool
}

func (c *checker) add(p Pos, file, level, msg string) {
	key := fmt.Sprintf("%s:%d:%d:%s", file, p.Line, p.Column, msg)
	if c.seen[key] {
		return
	}
	c.seen[key] = true
	c.out = append(c.out, Finding{File: file, Line: p.Line, Column: p.Column, Level: level, Msg: msg})
}

func (c *checker) checkBound(d *Device, b *Bound) {
	r, prop := b.Rule, b.Prop
	if prop == nil {
		return
	}
	where := fmt.Sprintf("%s (%s) %q", d.FriendlyName, d.Model, prop.Property)
	if r.CanWrite() && r.Direction == "write" && !prop.Writable() {
		c.add(r.Pos, r.Block.File, "error", fmt.Sprintf("%s: the rule writes a property without the set access bit", where))
	}
	misfit := false // a step does not fit the expose: the round trip would only repeat it
	for _, st := range r.Read {
		switch s := st.(type) {
		case unitStep:
			if prop.Unit != "" && units[prop.Unit] != s.from {
				c.add(s.pos, r.Block.File, "error", fmt.Sprintf("%s: unit transform converts from a unit other than the expose's %q", where, prop.Unit))
			}
		case *mapStep:
			if prop.Type != "enum" && prop.Type != "binary" {
				continue
			}
			allowed, pos := prop.Allowed(), s.pos
			for _, label := range slices.Sorted(maps.Keys(s.read)) {
				if !containsFold(allowed, label) {
					misfit = true
					c.add(pos, r.Block.File, "error", fmt.Sprintf("%s: map label %q is not one of the expose's values (%s)", where, label, strings.Join(allowed, ", ")))
				}
			}
			if !b.Writable {
				continue
			}
			for _, v := range s.write {
				label := valueKey(v)
				if _, read := s.read[label]; read {
					continue // a map label, checked above
				}
				if !containsFold(allowed, label) {
					c.add(pos, r.Block.File, "error", fmt.Sprintf("%s: command value %q is not one of the expose's values (%s)", where, label, strings.Join(allowed, ", ")))
				}
			}
			if prop.Type == "enum" && s.otherwise == "" {
				c.add(pos, r.Block.File, "warning", fmt.Sprintf("%s: the map has no `otherwise`, so a command value it does not list passes through unchanged; commands outside the expose's values are refused, but `otherwise: error` says so in the rule", where))
			}
		}
	}
	if misfit || !b.Writable || !r.CanRead() || len(r.Read) == 0 {
		return
	}
	c.roundTrip(d, b, where)
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// roundTrip checks write(read(x)) == x over the expose's values or range,
// and that command values stay within value_min/value_max.
func (c *checker) roundTrip(d *Device, b *Bound, where string) {
	r, prop := b.Rule, b.Prop
	var samples []any
	switch {
	case prop.Type == "enum":
		for _, v := range prop.Values {
			samples = append(samples, v)
		}
	case prop.Type == "binary":
		samples = []any{prop.ValueOn, prop.ValueOff}
	case prop.Type == "numeric" && prop.Min != nil && prop.Max != nil && *prop.Max > *prop.Min:
		lo, hi := *prop.Min, *prop.Max
		for i := 0; i <= 20; i++ {
			samples = append(samples, math.Round(lo+(hi-lo)*float64(i)/20))
		}
	default:
		return
	}
	for _, x := range samples {
		iot, err := r.Read.Read(x)
		if err != nil {
			c.add(r.Pos, r.Block.File, "warning", fmt.Sprintf("%s: reading %v fails: %v", where, valueKey(x), err))
			return
		}
		back, err := r.Write(iot)
		if err != nil {
			c.add(r.Pos, r.Block.File, "warning", fmt.Sprintf("%s: the command value %v cannot be written back: %v", where, valueKey(iot), err))
			return
		}
		if f, ok := back.(float64); ok && prop.Min != nil && prop.Max != nil && (f < *prop.Min-1e-9 || f > *prop.Max+1e-9) {
			c.add(r.Pos, r.Block.File, "error", fmt.Sprintf("%s: command value %v is outside value_min..value_max (%v..%v)", where, f, *prop.Min, *prop.Max))
			return
		}
		if !sameValue(x, back, prop) {
			c.add(r.Pos, r.Block.File, "warning", fmt.Sprintf("%s: round trip is lossy: %v reads as %v and writes back as %v", where, valueKey(x), valueKey(iot), valueKey(back)))
			return
		}
	}
}

// sameValue compares with a tolerance of one unit for integers and 1% of
// the expose's range otherwise (mired ↔ Kelvin rounding).
func sameValue(a, b any, p *Property) bool {
	fa, errA := toFloat(a)
	fb, errB := toFloat(b)
	if errA == nil && errB == nil {
		tol := 1.0
		if p.Min != nil && p.Max != nil {
			tol = math.Max(tol, 0.01*(*p.Max-*p.Min))
		}
		return math.Abs(fa-fb) <= tol
	}
	return strings.EqualFold(valueKey(a), valueKey(b))
}
