package mapping

import (
	"fmt"
	"strconv"
	"strings"
)

// selector is a compiled SelectSpec.
type selector struct {
	model, vendor, ieee, friendlyName []string
	expose                            *exposeMatcher
}

// exposeMatcher is a compiled ExposeSpec.
type exposeMatcher struct {
	typ, name, property, unit string
	access                    int
}

func compileSelector(s *SelectSpec, field string, e *errs) *selector {
	sel := &selector{model: s.Model, vendor: s.Vendor, ieee: s.IEEE, friendlyName: s.FriendlyName}
	for name, list := range map[string][]string{"model": s.Model, "vendor": s.Vendor, "ieee": s.IEEE, "friendly_name": s.FriendlyName} {
		for i, g := range list {
			if g == "" {
				e.add(s.Pos, fmt.Sprintf("%s.%s[%d]", field, name, i), "must not be empty")
			}
		}
	}
	if s.Expose != nil {
		sel.expose = compileExpose(s.Expose, field+".expose", e)
	}
	return sel
}

func compileExpose(s *ExposeSpec, field string, e *errs) *exposeMatcher {
	m := &exposeMatcher{typ: s.Type, name: s.Name, property: s.Property, unit: s.Unit}
	for i, a := range s.Access {
		bit, ok := accessBits[a]
		if !ok {
			e.add(s.Pos, fmt.Sprintf("%s.access[%d]", field, i), "%q is not one of state, set, get", a)
		}
		m.access |= bit
	}
	return m
}

func (m *exposeMatcher) match(p *Property) bool {
	if m.typ != "" && !strings.EqualFold(m.typ, p.Type) && !strings.EqualFold(m.typ, p.Parent) {
		return false
	}
	if m.name != "" && !strings.EqualFold(m.name, p.Name) {
		return false
	}
	if m.property != "" && !Glob(m.property, p.Property) {
		return false
	}
	if m.unit != "" && m.unit != p.Unit {
		return false
	}
	return p.Access&m.access == m.access
}

func anyGlob(globs []string, s string) bool {
	for _, g := range globs {
		if Glob(g, s) {
			return true
		}
	}
	return false
}

func (s *selector) match(d *Device) bool {
	if s == nil {
		return true
	}
	if len(s.model) > 0 && !anyGlob(s.model, d.Model) {
		return false
	}
	if len(s.vendor) > 0 && !anyGlob(s.vendor, d.Vendor) {
		return false
	}
	if len(s.ieee) > 0 && !anyGlob(s.ieee, d.IEEE) {
		return false
	}
	if len(s.friendlyName) > 0 && !anyGlob(s.friendlyName, d.FriendlyName) {
		return false
	}
	if s.expose != nil {
		for i := range d.Properties {
			if s.expose.match(&d.Properties[i]) {
				return true
			}
		}
		return false
	}
	return true
}

// Glob matches s against a pattern where '*' matches any run of characters
// (including '/') and '?' any one character, ignoring case.
func Glob(pattern, s string) bool {
	pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	px, sx := 0, 0
	nextPx, nextSx := -1, -1
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				nextPx, nextSx = px, sx+1
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		if nextSx > 0 && nextSx <= len(s) {
			px, sx = nextPx, nextSx
			continue
		}
		return false
	}
	return true
}

// Plan is the resolved set of rules for one device: what the engine runs
// for every message of that device.
type Plan struct {
	// DeviceIDTemplate is the identifier template chosen by the highest
	// block that sets one ("" means the IEEE address).
	DeviceIDTemplate string
	// Rules are the bound rules, in precedence order.
	Rules []*Bound
	// Events are payload keys emitted as events.
	Events map[string]bool
	// Include and Exclude filter state keys by glob.
	Include, Exclude []string
	// Unmatched is pass or drop.
	Unmatched string
	// Blocks are the blocks that matched, lowest first.
	Blocks []*Block
	// claimed are the state keys the rules write.
	claimed map[string]bool
}

// PassKey is the state key of a payload key that no rule reads (and that
// passes unchanged): the key itself, or "z2m_" and the key when a rule
// writes that key or it is reserved.
func (p *Plan) PassKey(key string) string {
	if !p.claimed[key] && !ReservedKeys[key] {
		return key
	}
	return "z2m_" + key
}

// Bound is a rule bound to a device, with concrete paths.
type Bound struct {
	Rule     *Rule
	From, To string
	// Prop is the exposed property the rule reads, when the device exposes it.
	Prop *Property
	// Writable is true when commands may use the rule: its direction allows
	// writes, and the device's expose (if any) has the set access bit.
	Writable bool
	// Renamed says why To is not the rule's target: another property of the
	// device claims that state key, or it is reserved (see ReservedKeys).
	// "" when the rule's target stands.
	Renamed string
}

// ReservedKeys are state keys the engine writes itself; no device property
// lands on them.
var ReservedKeys = map[string]bool{"online": true, "last_update": true}

// MatchKey identifies the blocks whose selectors match d. Two devices with
// equal MatchKeys and equal ExposesKeys get identical plans.
func (s *Set) MatchKey(d *Device) string {
	var b []byte
	for i, blk := range s.blocks {
		if blk.sel.match(d) {
			b = strconv.AppendInt(b, int64(i), 36)
			b = append(b, ',')
		}
	}
	return string(b)
}

// Plan resolves the rules that apply to d. For each source path the rule of
// the highest layer wins; within a layer, the later block wins.
func (s *Set) Plan(d *Device) *Plan {
	p := &Plan{Events: map[string]bool{}, Unmatched: "pass"}
	index := map[string]int{}
	add := func(b *Bound) {
		key := "r:" + b.From
		if !b.Rule.CanRead() {
			key = "w:" + b.To
		}
		if i, ok := index[key]; ok {
			// One rule over two exposes of one property (some definitions
			// list a property twice, read-only and writable): the writable
			// one is the property.
			if old := p.Rules[i]; old.Rule != b.Rule || !old.Writable || b.Writable {
				p.Rules[i] = b
			}
			return
		}
		index[key] = len(p.Rules)
		p.Rules = append(p.Rules, b)
	}
	for _, blk := range s.blocks {
		if !blk.sel.match(d) {
			continue
		}
		p.Blocks = append(p.Blocks, blk)
		if blk.DeviceID != "" {
			p.DeviceIDTemplate = blk.DeviceID
		}
		for _, ev := range blk.Events {
			p.Events[ev] = true
		}
		if blk.Include != nil {
			p.Include = blk.Include
		}
		if blk.Exclude != nil {
			p.Exclude = blk.Exclude
		}
		if blk.Unmatched != "" {
			p.Unmatched = blk.Unmatched
		}
		for _, r := range blk.Rules {
			if r.expose == nil {
				b := &Bound{Rule: r, From: r.From, To: r.To, Prop: d.Property(r.From)}
				b.Writable = r.CanWrite() && (b.Prop == nil || b.Prop.Writable())
				add(b)
				continue
			}
			for i := range d.Properties {
				prop := &d.Properties[i]
				if !r.expose.match(prop) {
					continue
				}
				b := &Bound{Rule: r, From: expand(r.From, prop), To: expand(r.To, prop), Prop: prop}
				b.Writable = r.CanWrite() && prop.Writable()
				add(b)
			}
		}
	}
	// An event's exposes on other endpoints are events too (action_l1).
	for i := range d.Properties {
		if prop := &d.Properties[i]; p.Events[prop.Name] && !prop.Writable() {
			p.Events[prop.Property] = true
		}
	}
	p.resolveCollisions()
	return p
}

// resolveCollisions gives every source property a state key of its own.
// Where rules of several properties target one key, the rule that ranks
// highest keeps it: a property the device exposes over a payload key it
// does not, then the higher layer, then a rule that renames (its target
// differs from its source) over one that keeps the Zigbee2MQTT name, then
// the later rule. Every other property moves to its fallback name (see
// fallbackKey); a property whose target is reserved always moves.
func (p *Plan) resolveCollisions() {
	byKey := map[string][]int{}
	var keys []string
	for i, b := range p.Rules {
		top := topKey(b.To)
		if _, ok := byKey[top]; !ok {
			keys = append(keys, top)
		}
		byKey[top] = append(byKey[top], i)
	}
	taken := map[string]bool{}
	for _, k := range keys {
		taken[k] = true
	}
	p.claimed = taken
	for _, key := range keys {
		idx := byKey[key]
		winner, by := "", ""
		if !ReservedKeys[key] {
			best := idx[0]
			for _, i := range idx[1:] {
				if p.Rules[i].outranks(p.Rules[best], i, best) {
					best = i
				}
			}
			winner, by = p.Rules[best].From, p.Rules[best].Rule.ID()
		}
		for _, i := range idx {
			b := p.Rules[i]
			if b.From == winner {
				continue
			}
			name := fallbackKey(b, taken)
			taken[name] = true
			moved := *b
			moved.To = name + b.To[len(key):]
			if winner == "" {
				moved.Renamed = fmt.Sprintf("%q is reserved", key)
			} else {
				moved.Renamed = fmt.Sprintf("%q is %s's (%s)", key, winner, by)
			}
			p.Rules[i] = &moved
		}
	}
}

// outranks reports whether b (at index i) keeps a contested key over o (at
// index j).
func (b *Bound) outranks(o *Bound, i, j int) bool {
	if exposed, other := b.Prop != nil, o.Prop != nil; exposed != other {
		return exposed
	}
	if b.Rule.Block.Layer != o.Rule.Block.Layer {
		return b.Rule.Block.Layer > o.Rule.Block.Layer
	}
	if renames, other := b.To != b.From, o.To != o.From; renames != other {
		return renames
	}
	return i > j
}

// fallbackKey is the state key of a property that lost its target: its
// Zigbee2MQTT name; else that name and its unit (power_w); else the name
// with the prefix "z2m_" (z2m_mode, z2m_online); a number is appended while
// the name is taken.
func fallbackKey(b *Bound, taken map[string]bool) string {
	name := topKey(b.From)
	free := func(k string) bool { return k != "" && !taken[k] && !ReservedKeys[k] }
	if free(name) {
		return name
	}
	if b.Prop != nil {
		if u := Slug(b.Prop.Unit); u != "" && free(name+"_"+u) {
			return name + "_" + u
		}
	}
	k := "z2m_" + name
	for n := 2; !free(k); n++ {
		k = fmt.Sprintf("z2m_%s_%d", name, n)
	}
	return k
}

func topKey(path string) string {
	top, _, _ := strings.Cut(path, ".")
	return top
}

func expand(tmpl string, p *Property) string {
	if !strings.Contains(tmpl, "{") {
		return tmpl
	}
	ep := ""
	if p.Endpoint != "" {
		ep = "_" + p.Endpoint
	}
	return strings.NewReplacer("{property}", p.Property, "{name}", p.Name, "{endpoint}", p.Endpoint, "{_endpoint}", ep).Replace(tmpl)
}

// DeviceID renders the plan's identifier template for d. It returns the
// lower-case IEEE address when no template is set.
func (p *Plan) DeviceID(d *Device) string {
	if p.DeviceIDTemplate == "" {
		return strings.ToLower(d.IEEE)
	}
	return strings.NewReplacer(
		"{ieee}", strings.ToLower(d.IEEE),
		"{ieee_short}", strings.TrimPrefix(strings.ToLower(d.IEEE), "0x"),
		"{friendly_name}", Slug(d.FriendlyName),
		"{model}", Slug(d.Model),
		"{vendor}", Slug(d.Vendor),
	).Replace(p.DeviceIDTemplate)
}

// Slug lower-cases s and keeps [a-z0-9_-], turning anything else into '-'
// and collapsing repeats, as the IoT2MQTT web UI normalises device ids.
func Slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
			dash = false
		default:
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
				dash = true
			}
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// KeepKey applies the plan's include and exclude globs to a state key.
func (p *Plan) KeepKey(key string) bool {
	if len(p.Include) > 0 && !anyGlob(p.Include, key) {
		return false
	}
	return !anyGlob(p.Exclude, key)
}
