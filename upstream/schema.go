package upstream

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// SchemaRelPath is where the settings JSON schema lives inside a Zigbee2MQTT
// install directory (the npm prefix).
const SchemaRelPath = "node_modules/zigbee2mqtt/dist/util/settings.schema.json"

// Schema is a compiled JSON schema. It supports the subset of JSON Schema
// (draft 7) that Zigbee2MQTT's settings schema uses: type, enum, const,
// required, properties, patternProperties, additionalProperties,
// propertyNames, minimum/maximum (and their exclusive forms),
// minLength/maxLength, pattern, items, minItems/maxItems, oneOf, anyOf, allOf,
// not and local $ref. Compiling a schema that uses any other keyword fails, so
// a new Zigbee2MQTT release cannot silently weaken validation.
type Schema struct {
	root *schemaNode
}

// annotations are keywords that never affect validation.
var annotations = map[string]bool{
	"$schema": true, "$id": true, "$comment": true, "title": true,
	"description": true, "default": true, "examples": true, "readOnly": true,
	"writeOnly": true, "deprecated": true, "definitions": true, "$defs": true,
	// Zigbee2MQTT's own annotation (ajv addKeyword without validation).
	"requiresRestart": true,
}

type patternSchema struct {
	re   *regexp.Regexp
	node *schemaNode
}

type schemaNode struct {
	ref           string
	refNode       *schemaNode
	types         []string
	enum          []any
	constVal      any
	hasConst      bool
	required      []string
	properties    map[string]*schemaNode
	patternProps  []patternSchema
	additional    *schemaNode // nil: anything allowed
	noAdditional  bool
	propertyNames *schemaNode
	minimum       *float64
	maximum       *float64
	exclMinimum   *float64
	exclMaximum   *float64
	minLength     *int
	maxLength     *int
	pattern       *regexp.Regexp
	items         *schemaNode
	minItems      *int
	maxItems      *int
	oneOf         []*schemaNode
	anyOf         []*schemaNode
	allOf         []*schemaNode
	not           *schemaNode
	alwaysFalse   bool
}

// SchemaPath returns the settings schema path for a Zigbee2MQTT install
// directory (the npm prefix, e.g. /opt/zigbee2mqtt or .cache/z2m).
func SchemaPath(installDir string) string {
	return filepath.Join(installDir, filepath.FromSlash(SchemaRelPath))
}

// LoadSchema reads and compiles a JSON schema file.
func LoadSchema(path string) (*Schema, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load settings schema: %w", err)
	}
	s, err := CompileSchema(data)
	if err != nil {
		return nil, fmt.Errorf("load settings schema %s: %w", path, err)
	}
	return s, nil
}

// CompileSchema compiles a JSON schema document.
func CompileSchema(data []byte) (*Schema, error) {
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("compile schema: %w", err)
	}
	c := &schemaCompiler{doc: doc, compiled: map[string]*schemaNode{}}
	root, err := c.compile(doc, "#")
	if err != nil {
		return nil, fmt.Errorf("compile schema: %w", err)
	}
	// Resolving a reference compiles its target, which may queue more.
	for len(c.pending) > 0 {
		n := c.pending[0]
		c.pending = c.pending[1:]
		if n.refNode, err = c.resolve(n.ref); err != nil {
			return nil, fmt.Errorf("compile schema: %w", err)
		}
	}
	return &Schema{root: root}, nil
}

type schemaCompiler struct {
	doc      any
	pending  []*schemaNode          // nodes whose $ref is not resolved yet
	compiled map[string]*schemaNode // reference targets by JSON pointer
}

// resolve compiles the target of a local JSON pointer reference once.
func (c *schemaCompiler) resolve(ptr string) (*schemaNode, error) {
	if n, ok := c.compiled[ptr]; ok {
		return n, nil
	}
	if !strings.HasPrefix(ptr, "#") {
		return nil, fmt.Errorf("$ref %q: only local references are supported", ptr)
	}
	cur := c.doc
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "#"), "/") {
		if tok == "" {
			continue
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ptr)
		}
		if cur, ok = m[tok]; !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ptr)
		}
	}
	n, err := c.compile(cur, ptr)
	if err != nil {
		return nil, err
	}
	c.compiled[ptr] = n
	return n, nil
}

func (c *schemaCompiler) compile(v any, at string) (*schemaNode, error) {
	switch s := v.(type) {
	case bool:
		if s {
			return &schemaNode{}, nil
		}
		return &schemaNode{alwaysFalse: true}, nil
	case map[string]any:
		return c.compileObject(s, at)
	default:
		return nil, fmt.Errorf("%s: a schema must be an object or a boolean", at)
	}
}

func (c *schemaCompiler) compileObject(s map[string]any, at string) (*schemaNode, error) {
	n := &schemaNode{}
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := s[k]
		here := at + "/" + k
		var err error
		switch k {
		case "$ref":
			ref, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("%s: must be a string", here)
			}
			n.ref = ref
			c.pending = append(c.pending, n)
		case "type":
			n.types, err = stringList(v)
		case "enum":
			list, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("%s: must be an array", here)
			}
			n.enum = list
		case "const":
			n.constVal, n.hasConst = v, true
		case "required":
			n.required, err = stringList(v)
		case "properties":
			props, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: must be an object", here)
			}
			n.properties = map[string]*schemaNode{}
			for name, sub := range props {
				if n.properties[name], err = c.compile(sub, here+"/"+name); err != nil {
					return nil, err
				}
			}
		case "patternProperties":
			props, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: must be an object", here)
			}
			pats := make([]string, 0, len(props))
			for p := range props {
				pats = append(pats, p)
			}
			sort.Strings(pats)
			for _, p := range pats {
				re, err := regexp.Compile(p)
				if err != nil {
					return nil, fmt.Errorf("%s: pattern %q: %w", here, p, err)
				}
				sub, err := c.compile(props[p], here+"/"+p)
				if err != nil {
					return nil, err
				}
				n.patternProps = append(n.patternProps, patternSchema{re: re, node: sub})
			}
		case "additionalProperties":
			if b, ok := v.(bool); ok {
				n.noAdditional = !b
				break
			}
			n.additional, err = c.compile(v, here)
		case "propertyNames":
			n.propertyNames, err = c.compile(v, here)
		case "minimum":
			n.minimum, err = number(v, here)
		case "maximum":
			n.maximum, err = number(v, here)
		case "exclusiveMinimum":
			n.exclMinimum, err = number(v, here)
		case "exclusiveMaximum":
			n.exclMaximum, err = number(v, here)
		case "minLength":
			n.minLength, err = count(v, here)
		case "maxLength":
			n.maxLength, err = count(v, here)
		case "minItems":
			n.minItems, err = count(v, here)
		case "maxItems":
			n.maxItems, err = count(v, here)
		case "pattern":
			p, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("%s: must be a string", here)
			}
			if n.pattern, err = regexp.Compile(p); err != nil {
				return nil, fmt.Errorf("%s: %w", here, err)
			}
		case "items":
			if _, isList := v.([]any); isList {
				return nil, fmt.Errorf("%s: tuple items are not supported", here)
			}
			n.items, err = c.compile(v, here)
		case "oneOf", "anyOf", "allOf":
			list, ok := v.([]any)
			if !ok || len(list) == 0 {
				return nil, fmt.Errorf("%s: must be a non-empty array", here)
			}
			subs := make([]*schemaNode, len(list))
			for i, sub := range list {
				if subs[i], err = c.compile(sub, fmt.Sprintf("%s/%d", here, i)); err != nil {
					return nil, err
				}
			}
			switch k {
			case "oneOf":
				n.oneOf = subs
			case "anyOf":
				n.anyOf = subs
			default:
				n.allOf = subs
			}
		case "not":
			n.not, err = c.compile(v, here)
		default:
			if !annotations[k] {
				return nil, fmt.Errorf("%s: keyword %q is not supported by this validator", at, k)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	// Definitions are compiled only when referenced.
	return n, nil
}

func stringList(v any) ([]string, error) {
	switch t := v.(type) {
	case string:
		return []string{t}, nil
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("expected a list of strings, got %v", v)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("expected a string or a list of strings, got %v", v)
}

func number(v any, at string) (*float64, error) {
	f, ok := v.(float64)
	if !ok {
		return nil, fmt.Errorf("%s: must be a number", at)
	}
	return &f, nil
}

func count(v any, at string) (*int, error) {
	f, ok := v.(float64)
	if !ok || f < 0 || f != math.Trunc(f) {
		return nil, fmt.Errorf("%s: must be a non-negative integer", at)
	}
	n := int(f)
	return &n, nil
}
