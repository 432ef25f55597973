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
		{"not an object", nil, []string{"got null, want object"}},
		{"type", map[string]any{"name": 5}, []string{"name: got number, want string"}},
		{"string rules", map[string]any{"name": "ABCDEFG"}, []string{
			"name: maxLength: got 7, want 5",
			"name: 'ABCDEFG' does not match pattern '^[a-z]+$'"}},
		{"min length", map[string]any{"name": "a"}, []string{"name: minLength: got 1, want 2"}},
		{"enum", map[string]any{"name": "ab", "level": "verbose"}, []string{"level: value must be one of 'info', 'debug'"}},
		{"range", map[string]any{"name": "ab", "port": 0}, []string{"port: minimum: got 0, want 1"}},
		{"max", map[string]any{"name": "ab", "port": 70000}, []string{"port: maximum: got 70,000, want 65,535"}},
		{"exclusive", map[string]any{"name": "ab", "ratio": 1}, []string{"ratio: exclusiveMaximum: got 1, want 1"}},
		{"items", map[string]any{"name": "ab", "bytes": []any{1, 256, "x", 3}}, []string{
			"bytes: maxItems: got 4, want 3",
			"bytes[1]: maximum: got 256, want 255",
			"bytes[2]: got string, want number"}},
		{"min items", map[string]any{"name": "ab", "bytes": []any{1}}, []string{"bytes: minItems: got 1, want 2"}},
		{"oneOf none", map[string]any{"name": "ab", "id": 0}, []string{
			"id: does not match any allowed form (got number, want string | minimum: got 0, want 1)"}},
		{"oneOf two", map[string]any{"name": "ab", "both": 2}, []string{"both: 'oneOf' failed, subschemas 0, 1 matched"}},
		{"anyOf", map[string]any{"name": "ab", "any": "no"}, []string{
			"any: does not match any allowed form (got string, want boolean | value must be 'yes')"}},
		{"allOf", map[string]any{"name": "ab", "all": 4}, []string{"all: maximum: got 4, want 3"}},
		{"not", map[string]any{"name": "ab", "notnull": nil}, []string{"notnull: 'not' failed"}},
		{"ref recursion", map[string]any{"name": "ab", "tree": map[string]any{"child": map[string]any{"v": 1.5, "x": 1}}}, []string{
			"tree.child.v: got number, want integer",
			"tree.child.x: is not a known setting"}},
		{"property names", map[string]any{"name": "ab", "levels": map[string]any{"zh:x": "info", "z2m": "loud"}}, []string{
			"levels.z2m: value must be one of 'info', 'debug'",
			"levels.zh:x: invalid key: 'zh:x' does not match pattern '^z2m(:[a-z]+)*$'"}},
		{"pattern properties", map[string]any{"name": "ab", "devices": map[string]any{"0x01": map[string]any{}}}, []string{
			"devices.0x01.friendly_name: is required"}},
		{"additional false", map[string]any{"name": "ab", "strict": map[string]any{"b": 1}}, []string{"strict.b: is not a known setting"}},
		{"false schema", map[string]any{"name": "ab", "never": 1}, []string{"never: false schema"}},
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
		{"bad pattern", `{"pattern": "(?<=x)"}`, "'/pattern': '(?<=x)' is not valid regex"},
		{"remote ref", `{"$ref": "http://example.com/s.json"}`, `failing loading "http://example.com/s.json"`},
		{"dangling ref", `{"$ref": "#/definitions/nope"}`, "#/definitions/nope\" not found"},
		{"not json", `{`, "compile schema"},
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
