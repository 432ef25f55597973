package mapping

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/tidwall/sjson"
	"gopkg.in/yaml.v3"
)

// Layer orders rule sources; a higher layer overrides a lower one.
type Layer int

// The mapping layers, lowest first.
const (
	// LayerGeneric is the built-in fallback derived from each device's exposes.
	LayerGeneric Layer = iota
	// LayerPack is the built-in pack, in file-name order.
	LayerPack
	// LayerCustom is the integrator's files (the mappings directory), in
	// file-name order: they add to the pack and override it.
	LayerCustom
	// LayerInstance is the `mappings` list of the instance JSON.
	LayerInstance
)

func (l Layer) String() string {
	switch l {
	case LayerGeneric:
		return "generic"
	case LayerPack:
		return "pack"
	case LayerCustom:
		return "custom"
	case LayerInstance:
		return "instance"
	}
	return fmt.Sprintf("layer(%d)", int(l))
}

// File is the source of one mapping file.
type File struct {
	Name  string // shown in errors, e.g. mappings/lights.yaml
	Data  []byte
	Layer Layer
}

//go:embed generic.yaml
var genericYAML []byte

// GenericFile is the built-in generic layer: every exposed property passes
// through under its Zigbee2MQTT name, and `action` is an event.
func GenericFile() File {
	return File{Name: "builtin:generic.yaml", Data: genericYAML, Layer: LayerGeneric}
}

// LoadFS reads every file matching pattern (e.g. "*.yaml") from fsys as
// files of the given layer, sorted by name.
func LoadFS(fsys fs.FS, pattern string, layer Layer, prefix string) ([]File, error) {
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, fmt.Errorf("list mapping files: %w", err)
	}
	sort.Strings(names)
	files := make([]File, 0, len(names))
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("read mapping file: %w", err)
		}
		files = append(files, File{Name: path.Join(prefix, n), Data: data, Layer: layer})
	}
	return files, nil
}

// Set is a compiled, immutable rule set. It is safe for concurrent use.
type Set struct {
	blocks []*Block
}

// Blocks returns the compiled blocks in precedence order, lowest first.
func (s *Set) Blocks() []*Block { return s.blocks }

// Block is a compiled block.
type Block struct {
	Name      string
	File      string
	Layer     Layer
	Pos       Pos
	sel       *selector
	Rules     []*Rule
	Events    []string
	Include   []string
	Exclude   []string
	Unmatched string // "", pass or drop
	DeviceID  string
}

// Rule is a compiled property rule.
type Rule struct {
	Block     *Block
	Pos       Pos
	From, To  string // paths, possibly with placeholders
	expose    *exposeMatcher
	Read      Chain
	write     Chain
	reverse   Chain // explicit reverse, applied with Read in order
	Direction string
	Missing   string
	Null      string
	Default   any
}

// ID names the rule for humans: file:line:col (block).
func (r *Rule) ID() string {
	return fmt.Sprintf("%s:%d:%d", r.Block.File, r.Pos.Line, r.Pos.Column)
}

// CanRead reports whether the rule produces state.
func (r *Rule) CanRead() bool { return r.Direction != "write" }

// CanWrite reports whether the rule translates commands.
func (r *Rule) CanWrite() bool { return r.Direction != "read" }

// Write converts an IoT2MQTT command value to the Zigbee2MQTT value.
func (r *Rule) Write(v any) (any, error) {
	if r.reverse != nil {
		return r.reverse.Read(v)
	}
	return r.write.Write(v)
}

// Compile parses, validates and compiles files into a Set. It reports every
// problem in every file as an ErrorList.
func Compile(files []File) (*Set, error) {
	set := &Set{}
	var all ErrorList
	sorted := append([]File(nil), files...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Layer < sorted[j].Layer })
	for _, f := range sorted {
		blocks, el := compileFile(f)
		all = append(all, el...)
		set.blocks = append(set.blocks, blocks...)
	}
	if len(all) > 0 {
		return nil, all.sorted()
	}
	return set, nil
}

func compileFile(f File) ([]*Block, ErrorList) {
	e := &errs{file: f.Name}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(f.Data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, errEOF) || strings.Contains(err.Error(), "EOF") {
			return nil, nil // an empty file has no blocks
		}
		line := 0
		var msg = err.Error()
		if _, scanErr := fmt.Sscanf(msg, "yaml: line %d:", &line); scanErr == nil {
			msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
			msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
		}
		e.add(Pos{Line: line, Column: 1}, "", "invalid YAML: %s", msg)
		return nil, e.list
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	var spec FileSpec
	if root.Kind == yaml.SequenceNode {
		// A bare list of blocks is accepted too (the instance JSON form).
		decodeStrict(root, &spec.Blocks, e)
	} else {
		decodeStrict(root, &spec, e)
	}
	if e.aliasLimited {
		return nil, e.list // the rest would be errors about truncated values
	}
	names := map[string]bool{}
	var blocks []*Block
	for i := range spec.Blocks {
		b := compileBlock(f, &spec.Blocks[i], fmt.Sprintf("blocks[%d]", i), e)
		if b == nil {
			continue
		}
		if names[b.Name] {
			e.add(b.Pos, fmt.Sprintf("blocks[%d].name", i), "duplicate block name %q", b.Name)
		}
		names[b.Name] = true
		blocks = append(blocks, b)
	}
	return blocks, e.list
}

var errEOF = errors.New("EOF")

var (
	directions = []string{"both", "read", "write"}
	policies   = []string{"skip", "null", "default", "error"}
	unmatched  = []string{"pass", "drop"}
	otherwises = []string{"pass", "drop", "error"}
	colorForms = []string{"xy", "hs", "hex"}
	accessBits = map[string]int{"state": AccessState, "set": AccessSet, "get": AccessGet}
	idHoles    = []string{"{ieee}", "{ieee_short}", "{friendly_name}", "{model}", "{vendor}"}
	ruleHoles  = []string{"{property}", "{name}", "{endpoint}", "{_endpoint}"}
)

func oneOf(v string, allowed []string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

func compileBlock(f File, s *BlockSpec, field string, e *errs) *Block {
	b := &Block{Name: s.Name, File: f.Name, Layer: f.Layer, Pos: s.Pos, Events: s.Events,
		Include: s.Include, Exclude: s.Exclude, Unmatched: s.Unmatched, DeviceID: s.DeviceID}
	if s.Name == "" {
		e.add(s.Pos, field+".name", "required")
	}
	if s.Unmatched != "" && !oneOf(s.Unmatched, unmatched) {
		e.add(s.Pos, field+".unmatched", "%q is not one of %s", s.Unmatched, strings.Join(unmatched, ", "))
	}
	if s.DeviceID != "" {
		rest := s.DeviceID
		for _, h := range idHoles {
			rest = strings.ReplaceAll(rest, h, "x")
		}
		if strings.ContainsAny(rest, "{}/+#\x00") {
			e.add(s.Pos, field+".device_id", "%q: only %s and characters allowed in a topic level may be used", s.DeviceID, strings.Join(idHoles, ", "))
		}
	}
	for i, ev := range s.Events {
		if ev == "" {
			e.add(s.Pos, fmt.Sprintf("%s.events[%d]", field, i), "must not be empty")
		}
	}
	if s.Select != nil {
		b.sel = compileSelector(s.Select, field+".select", e)
	}
	for i := range s.Rules {
		if r := compileRule(&s.Rules[i], fmt.Sprintf("%s.rules[%d]", field, i), e); r != nil {
			r.Block = b
			b.Rules = append(b.Rules, r)
		}
	}
	return b
}

func compileRule(s *RuleSpec, field string, e *errs) *Rule {
	r := &Rule{Pos: s.Pos, From: s.From, To: s.To, Direction: s.Direction, Missing: s.Missing, Null: s.Null, Default: Normalize(s.Default)}
	ok := true
	if r.Direction == "" {
		r.Direction = "both"
	}
	if r.Missing == "" {
		r.Missing = "skip"
	}
	if r.Null == "" {
		r.Null = "null"
	}
	if !oneOf(r.Direction, directions) {
		e.add(s.Pos, field+".direction", "%q is not one of %s", s.Direction, strings.Join(directions, ", "))
		ok = false
	}
	for name, p := range map[string]string{"missing": r.Missing, "null": r.Null} {
		if !oneOf(p, policies) {
			e.add(s.Pos, field+"."+name, "%q is not one of %s", p, strings.Join(policies, ", "))
			ok = false
		} else if p == "default" && s.Default == nil {
			e.add(s.Pos, field+"."+name, "policy default needs a default value")
			ok = false
		}
	}
	if s.Expose != nil {
		r.expose = compileExpose(s.Expose, field+".expose", e)
		if r.From == "" {
			r.From = "{property}"
		}
	} else if r.From == "" {
		e.add(s.Pos, field+".from", "required (a gjson path into the Zigbee2MQTT payload)")
		return nil
	}
	if r.To == "" {
		r.To = r.From
	}
	if !checkPath(r.From, s.Expose != nil) {
		e.add(s.Pos, field+".from", "%q uses a placeholder that needs an expose selector (%s)", r.From, strings.Join(ruleHoles, ", "))
		ok = false
	}
	if !checkPath(r.To, s.Expose != nil) {
		e.add(s.Pos, field+".to", "%q uses a placeholder that needs an expose selector (%s)", r.To, strings.Join(ruleHoles, ", "))
		ok = false
	}
	if r.CanRead() {
		if err := checkWritePath(r.To); err != nil {
			e.add(s.Pos, field+".to", "%q is not a valid sjson path: %v", r.To, err)
			ok = false
		}
	}
	if r.CanWrite() {
		if err := checkWritePath(r.From); err != nil {
			e.add(s.Pos, field+".from", "%q cannot be written in commands (%v); set direction: read", r.From, err)
			ok = false
		}
	}
	r.Read = compileChain(s.Transform, field+".transform", e)
	r.write = r.Read
	if len(s.Reverse) > 0 {
		r.reverse = compileChain(s.Reverse, field+".reverse", e)
	}
	if r.CanWrite() && r.reverse == nil {
		for i, st := range r.Read {
			if m, isMap := st.(*mapStep); isMap && !m.invertible() {
				e.add(s.Transform[i].Pos, fmt.Sprintf("%s.transform[%d].map", field, i), "values are not one to one, so commands cannot be derived; add reverse: or set direction: read")
				ok = false
			}
		}
	}
	if !ok {
		return nil
	}
	return r
}

// checkPath reports whether placeholders in p are allowed.
func checkPath(p string, templated bool) bool {
	if !strings.Contains(p, "{") {
		return true
	}
	if !templated {
		return false
	}
	rest := p
	for _, h := range ruleHoles {
		rest = strings.ReplaceAll(rest, h, "x")
	}
	return !strings.ContainsAny(rest, "{}")
}

// checkWritePath verifies an sjson path by setting it on an empty object;
// query syntax that only gjson understands is rejected.
func checkWritePath(p string) error {
	probe := p
	for _, h := range ruleHoles {
		probe = strings.ReplaceAll(probe, h, "x")
	}
	if probe == "" {
		return errors.New("empty path")
	}
	if strings.ContainsAny(probe, "*?#|@") {
		return errors.New("wildcards, queries and modifiers can only be read")
	}
	if _, err := sjson.Set("{}", probe, 1); err != nil {
		return err
	}
	return nil
}

func compileChain(specs []TransformSpec, field string, e *errs) Chain {
	var chain Chain
	for i := range specs {
		if st := compileStep(&specs[i], fmt.Sprintf("%s[%d]", field, i), e); st != nil {
			chain = append(chain, st)
		}
	}
	return chain
}

func precisionOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

func compileStep(s *TransformSpec, field string, e *errs) Step {
	var steps []Step
	if sc := s.Scale; sc != nil {
		if len(sc.From) != 2 || len(sc.To) != 2 {
			e.add(sc.Pos, field+".scale", "from and to must each be [min, max]")
		} else if sc.From[0] == sc.From[1] || sc.To[0] == sc.To[1] {
			e.add(sc.Pos, field+".scale", "a range must not be empty")
		} else {
			rev := -1
			if sc.From[0] == float64(int64(sc.From[0])) && sc.From[1] == float64(int64(sc.From[1])) {
				rev = 0
			}
			steps = append(steps, &scaleStep{inMin: sc.From[0], inMax: sc.From[1], outMin: sc.To[0], outMax: sc.To[1],
				precision: precisionOr(sc.Precision, -1), reversePrecision: precisionOr(sc.ReversePrecision, rev)})
		}
	}
	if m := s.Map; m != nil {
		if len(m.Values) == 0 {
			e.add(m.Pos, field+".map", "needs at least one value")
		}
		if m.Otherwise != "" && !oneOf(m.Otherwise, otherwises) {
			e.add(m.Pos, field+".map.otherwise", "%q is not one of %s", m.Otherwise, strings.Join(otherwises, ", "))
		}
		steps = append(steps, newMapStep(m))
	}
	if s.MiredKelvin != nil {
		steps = append(steps, miredKelvinStep{})
	}
	if c := s.Color; c != nil {
		w := c.Write
		if w == "" {
			w = "xy"
		}
		if !oneOf(w, colorForms) {
			e.add(c.Pos, field+".color.write", "%q is not one of %s", c.Write, strings.Join(colorForms, ", "))
		}
		steps = append(steps, colorStep{write: w})
	}
	if c := s.Clamp; c != nil {
		if c.Min == nil && c.Max == nil {
			e.add(c.Pos, field+".clamp", "needs min, max or both")
		}
		st := clampStep{min: -1e308, max: 1e308}
		if c.Min != nil {
			st.min = *c.Min
		}
		if c.Max != nil {
			st.max = *c.Max
		}
		if st.min > st.max {
			e.add(c.Pos, field+".clamp", "min is greater than max")
		}
		steps = append(steps, st)
	}
	if inv := s.Invert; inv != nil {
		if inv.Min == nil || inv.Max == nil {
			e.add(inv.Pos, field+".invert", "needs min and max")
		} else {
			steps = append(steps, invertStep{min: *inv.Min, max: *inv.Max})
		}
	}
	if u := s.Unit; u != nil {
		from, okf := units[u.From]
		to, okt := units[u.To]
		switch {
		case !okf:
			e.add(u.Pos, field+".unit.from", "unknown unit %q (known: %s)", u.From, knownUnits())
		case !okt:
			e.add(u.Pos, field+".unit.to", "unknown unit %q (known: %s)", u.To, knownUnits())
		case from.quantity != to.quantity:
			e.add(u.Pos, field+".unit", "cannot convert %s (%s) to %s (%s)", u.From, from.quantity, u.To, to.quantity)
		default:
			steps = append(steps, unitStep{from: from, to: to, precision: precisionOr(u.Precision, -1), pos: u.Pos})
		}
	}
	if s.Rename != nil {
		rd, wr := map[string]string{}, map[string]string{}
		for k, v := range s.Rename {
			rd[k], wr[v] = v, k
		}
		steps = append(steps, renameStep{read: rd, write: wr})
	}
	if s.Round != nil {
		if *s.Round < 0 || *s.Round > 10 {
			e.add(s.Pos, field+".round", "must be between 0 and 10 decimals")
		}
		steps = append(steps, roundStep{decimals: *s.Round})
	}
	set := 0
	for _, present := range []bool{s.Scale != nil, s.Map != nil, s.MiredKelvin != nil, s.Color != nil, s.Clamp != nil, s.Invert != nil, s.Unit != nil, s.Rename != nil, s.Round != nil} {
		if present {
			set++
		}
	}
	if set != 1 {
		e.add(s.Pos, field, "a transform step must have exactly one of scale, map, mired_kelvin, color, clamp, invert, unit, rename, round (found %d)", set)
		return nil
	}
	if len(steps) != 1 {
		return nil
	}
	return steps[0]
}

func knownUnits() string {
	var names []string
	for n := range units {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

func newMapStep(m *MapSpec) *mapStep {
	st := &mapStep{read: map[string]any{}, write: map[string]any{}, otherwise: m.Otherwise, pos: m.Pos}
	for k, v := range m.Values {
		v = Normalize(v)
		st.read[k] = v
		st.write[valueKey(v)] = k
	}
	for k, v := range m.Write {
		st.write[k] = Normalize(v)
	}
	return st
}

// invertible reports whether no two Zigbee2MQTT values map to one value.
func (m *mapStep) invertible() bool {
	seen := map[string]bool{}
	for _, v := range m.read {
		k := valueKey(v)
		if seen[k] {
			return false
		}
		seen[k] = true
	}
	return true
}
