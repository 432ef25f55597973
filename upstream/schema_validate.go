package upstream

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Problem is one validation failure.
type Problem struct {
	// Path is the dotted path of the offending value, e.g.
	// "advanced.channel" or "advanced.network_key[3]"; empty for the root.
	Path string
	// Message says what is wrong.
	Message string
}

// String formats the problem as "<path>: <message>".
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// ValidationError lists every problem found in a document.
type ValidationError struct {
	Problems []Problem
}

// Error joins every problem with "; ".
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return strings.Join(parts, "; ")
}

// Validate checks a JSON-like value (maps with string keys, slices, numbers,
// strings, booleans, nil — as produced by encoding/json or gopkg.in/yaml.v3)
// against the schema. It returns a *ValidationError listing every problem.
func (s *Schema) Validate(v any) error {
	var probs []Problem
	s.root.validate(normalize(v), "", &probs)
	if len(probs) == 0 {
		return nil
	}
	return &ValidationError{Problems: probs}
}

// normalize converts decoded YAML/JSON into map[string]any, []any, float64,
// string, bool and nil.
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = normalize(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[fmt.Sprint(k)] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalize(e)
		}
		return out
	case json.Number:
		f, _ := t.Float64()
		return f
	case int:
		return float64(t)
	case int64:
		return float64(t)
	case uint64:
		return float64(t)
	case float32:
		return float64(t)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32:
		return float64(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return float64(rv.Uint())
	}
	return v
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func typeName(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if t == math.Trunc(t) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func hasType(v any, t string) bool {
	got := typeName(v)
	switch t {
	case "number":
		return got == "number" || got == "integer"
	default:
		return got == t
	}
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil || len(b) > 60 {
		return typeName(v)
	}
	return string(b)
}

func (n *schemaNode) validate(v any, path string, probs *[]Problem) {
	add := func(format string, args ...any) {
		*probs = append(*probs, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if n.alwaysFalse {
		add("is not allowed here")
		return
	}
	if n.refNode != nil {
		n.refNode.validate(v, path, probs)
	}
	if len(n.types) > 0 {
		ok := false
		for _, t := range n.types {
			if hasType(v, t) {
				ok = true
				break
			}
		}
		if !ok {
			add("must be %s, got %s", strings.Join(n.types, " or "), show(v))
			return // further checks would only repeat the type problem
		}
	}
	if n.enum != nil {
		ok := false
		for _, e := range n.enum {
			if reflect.DeepEqual(normalize(e), v) {
				ok = true
				break
			}
		}
		if !ok {
			allowed := make([]string, len(n.enum))
			for i, e := range n.enum {
				allowed[i] = show(e)
			}
			add("must be one of %s, got %s", strings.Join(allowed, ", "), show(v))
		}
	}
	if n.hasConst && !reflect.DeepEqual(normalize(n.constVal), v) {
		add("must be %s, got %s", show(n.constVal), show(v))
	}
	switch t := v.(type) {
	case float64:
		n.validateNumber(t, add)
	case string:
		n.validateString(t, add)
	case []any:
		n.validateArray(t, path, probs, add)
	case map[string]any:
		n.validateObject(t, path, probs, add)
	}
	n.validateCombinators(v, path, probs, add)
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func (n *schemaNode) validateNumber(f float64, add func(string, ...any)) {
	if n.minimum != nil && f < *n.minimum {
		add("must be at least %s, got %s", fmtNum(*n.minimum), fmtNum(f))
	}
	if n.maximum != nil && f > *n.maximum {
		add("must be at most %s, got %s", fmtNum(*n.maximum), fmtNum(f))
	}
	if n.exclMinimum != nil && f <= *n.exclMinimum {
		add("must be greater than %s, got %s", fmtNum(*n.exclMinimum), fmtNum(f))
	}
	if n.exclMaximum != nil && f >= *n.exclMaximum {
		add("must be less than %s, got %s", fmtNum(*n.exclMaximum), fmtNum(f))
	}
}

func (n *schemaNode) validateString(s string, add func(string, ...any)) {
	length := len([]rune(s))
	if n.minLength != nil && length < *n.minLength {
		add("must be at least %d characters long", *n.minLength)
	}
	if n.maxLength != nil && length > *n.maxLength {
		add("must be at most %d characters long", *n.maxLength)
	}
	if n.pattern != nil && !n.pattern.MatchString(s) {
		add("%s does not match pattern %s", show(s), n.pattern)
	}
}

func (n *schemaNode) validateArray(a []any, path string, probs *[]Problem, add func(string, ...any)) {
	if n.minItems != nil && len(a) < *n.minItems {
		add("must have at least %d items, got %d", *n.minItems, len(a))
	}
	if n.maxItems != nil && len(a) > *n.maxItems {
		add("must have at most %d items, got %d", *n.maxItems, len(a))
	}
	if n.items != nil {
		for i, e := range a {
			n.items.validate(e, fmt.Sprintf("%s[%d]", path, i), probs)
		}
	}
}

func (n *schemaNode) validateObject(m map[string]any, path string, probs *[]Problem, add func(string, ...any)) {
	for _, r := range n.required {
		if _, ok := m[r]; !ok {
			*probs = append(*probs, Problem{Path: join(path, r), Message: "is required"})
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		child := join(path, k)
		if n.propertyNames != nil {
			var sub []Problem
			n.propertyNames.validate(k, child, &sub)
			for _, p := range sub {
				*probs = append(*probs, Problem{Path: child, Message: "invalid key: " + p.Message})
			}
		}
		matched := false
		if s, ok := n.properties[k]; ok {
			matched = true
			s.validate(m[k], child, probs)
		}
		for _, pp := range n.patternProps {
			if pp.re.MatchString(k) {
				matched = true
				pp.node.validate(m[k], child, probs)
			}
		}
		if matched {
			continue
		}
		switch {
		case n.noAdditional:
			*probs = append(*probs, Problem{Path: child, Message: "is not a known setting"})
		case n.additional != nil:
			n.additional.validate(m[k], child, probs)
		}
	}
}

func (n *schemaNode) validateCombinators(v any, path string, probs *[]Problem, add func(string, ...any)) {
	for _, s := range n.allOf {
		s.validate(v, path, probs)
	}
	if n.not != nil {
		var sub []Problem
		n.not.validate(v, path, &sub)
		if len(sub) == 0 {
			add("matches a form that is not allowed")
		}
	}
	if len(n.anyOf) == 0 && len(n.oneOf) == 0 {
		return
	}
	for _, group := range []struct {
		name  string
		nodes []*schemaNode
	}{{"anyOf", n.anyOf}, {"oneOf", n.oneOf}} {
		if len(group.nodes) == 0 {
			continue
		}
		matches := 0
		var why []string
		for _, s := range group.nodes {
			var sub []Problem
			s.validate(v, path, &sub)
			if len(sub) == 0 {
				matches++
				continue
			}
			why = append(why, sub[0].Message)
		}
		switch {
		case matches == 0:
			add("does not match any allowed form (%s)", strings.Join(why, " | "))
		case matches > 1 && group.name == "oneOf":
			add("matches more than one allowed form")
		}
	}
}
