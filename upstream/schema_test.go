package upstream_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/iot2mqtt/zigbee2mqtt-translator/upstream"
)

const unitSchema = `{
  "type": "object",
  "required": ["name"],
  "definitions": {
    "node": {
      "type": "object",
      "properties": {"child": {"$ref": "#/definitions/node"}, "v": {"type": "integer"}},
      "additionalProperties": false
    }
  },
  "properties": {
    "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
    "level": {"type": "string", "enum": ["info", "debug"]},
    "port": {"type": ["number", "null"], "minimum": 1, "maximum": 65535},
    "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    "bytes": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 255}, "minItems": 2, "maxItems": 3},
    "id": {"oneOf": [{"type": "string"}, {"type": "number", "minimum": 1}]},
    "both": {"oneOf": [{"type": "number"}, {"type": "integer"}]},
    "any": {"anyOf": [{"type": "boolean"}, {"type": "string", "const": "yes"}]},
    "all": {"allOf": [{"type": "number"}, {"maximum": 3}]},
    "notnull": {"not": {"type": "null"}},
    "tree": {"$ref": "#/definitions/node"},
    "levels": {
      "type": "object",
      "propertyNames": {"pattern": "^z2m(:[a-z]+)*$"},
      "additionalProperties": {"type": "string", "enum": ["info", "debug"]}
    },
    "devices": {"type": "object", "patternProperties": {"^0x": {"type": "object", "required": ["friendly_name"]}}},
    "strict": {"type": "object", "properties": {"a": true}, "additionalProperties": false},
    "never": false
  }
}`

func TestSchemaValidate(t *testing.T) {
	s, err := upstream.CompileSchema([]byte(unitSchema))
	if err != nil {
		t.Fatalf("CompileSchema: %v", err)
	}
	tests := []struct {
		name string
		doc  map[string]any
		want []string // problem strings; nil means valid
	}{
		{"valid", map[string]any{
			"name": "abc", "level": "info", "port": 1883, "ratio": 0.5, "bytes": []any{1, 255},
			"id": "x", "both": 1.5, "any": true, "all": 2, "notnull": 1,
			"tree":    map[string]any{"v": 1, "child": map[string]any{"v": 2}},
			"levels":  map[string]any{"z2m:mqtt": "debug"},
			"devices": map[string]any{"0x01": map[string]any{"friendly_name": "a"}, "other": 1},
			"strict":  map[string]any{"a": 1},
		}, nil},
		{"null allowed", map[string]any{"name": "ab", "port": nil}, nil},
		{"required", map[string]any{}, []string{"name: is required"}},
		{"not an object", nil, []string{"must be object, got null"}},
		{"type", map[string]any{"name": 5}, []string{"name: must be string, got 5"}},
		{"string rules", map[string]any{"name": "ABCDEFG"}, []string{
			"name: must be at most 5 characters long",
			`name: "ABCDEFG" does not match pattern ^[a-z]+$`}},
		{"min length", map[string]any{"name": "a"}, []string{"name: must be at least 2 characters long"}},
		{"enum", map[string]any{"name": "ab", "level": "verbose"}, []string{`level: must be one of "info", "debug", got "verbose"`}},
		{"range", map[string]any{"name": "ab", "port": 0}, []string{"port: must be at least 1, got 0"}},
		{"max", map[string]any{"name": "ab", "port": 70000}, []string{"port: must be at most 65535, got 70000"}},
		{"exclusive", map[string]any{"name": "ab", "ratio": 1}, []string{"ratio: must be less than 1, got 1"}},
		{"items", map[string]any{"name": "ab", "bytes": []any{1, 256, "x", 3}}, []string{
			"bytes: must have at most 3 items, got 4",
			"bytes[1]: must be at most 255, got 256",
			`bytes[2]: must be number, got "x"`}},
		{"min items", map[string]any{"name": "ab", "bytes": []any{1}}, []string{"bytes: must have at least 2 items, got 1"}},
		{"oneOf none", map[string]any{"name": "ab", "id": 0}, []string{
			"id: does not match any allowed form (must be string, got 0 | must be at least 1, got 0)"}},
		{"oneOf two", map[string]any{"name": "ab", "both": 2}, []string{"both: matches more than one allowed form"}},
		{"anyOf", map[string]any{"name": "ab", "any": "no"}, []string{
			`any: does not match any allowed form (must be boolean, got "no" | must be "yes", got "no")`}},
		{"allOf", map[string]any{"name": "ab", "all": 4}, []string{"all: must be at most 3, got 4"}},
		{"not", map[string]any{"name": "ab", "notnull": nil}, []string{"notnull: matches a form that is not allowed"}},
		{"ref recursion", map[string]any{"name": "ab", "tree": map[string]any{"child": map[string]any{"v": 1.5, "x": 1}}}, []string{
			"tree.child.v: must be integer, got 1.5",
			"tree.child.x: is not a known setting"}},
		{"property names", map[string]any{"name": "ab", "levels": map[string]any{"zh:x": "info", "z2m": "loud"}}, []string{
			`levels.z2m: must be one of "info", "debug", got "loud"`,
			`levels.zh:x: invalid key: "zh:x" does not match pattern ^z2m(:[a-z]+)*$`}},
		{"pattern properties", map[string]any{"name": "ab", "devices": map[string]any{"0x01": map[string]any{}}}, []string{
			"devices.0x01.friendly_name: is required"}},
		{"additional false", map[string]any{"name": "ab", "strict": map[string]any{"b": 1}}, []string{"strict.b: is not a known setting"}},
		{"false schema", map[string]any{"name": "ab", "never": 1}, []string{"never: is not allowed here"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc any = tt.doc
			if tt.doc == nil {
				doc = nil
			}
			err := s.Validate(doc)
			var got []string
			if err != nil {
				var ve *upstream.ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("error %T is not a *ValidationError", err)
				}
				for _, p := range ve.Problems {
					got = append(got, p.String())
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestCompileSchemaErrors(t *testing.T) {
	tests := []struct {
		name, schema, want string
	}{
		{"unsupported keyword", `{"properties": {"a": {"if": {}}}}`, `keyword "if" is not supported`},
		{"bad pattern", `{"pattern": "(?<=x)"}`, "#/pattern"},
		{"remote ref", `{"$ref": "http://example.com/s.json"}`, "only local references"},
		{"dangling ref", `{"$ref": "#/definitions/nope"}`, "does not resolve"},
		{"not json", `{`, "compile schema"},
		{"tuple items", `{"items": [{}]}`, "tuple items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := upstream.CompileSchema([]byte(tt.schema))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CompileSchema error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
