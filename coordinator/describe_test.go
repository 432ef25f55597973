package coordinator

import (
	"strings"
	"testing"
	"testing/fstest"
)

// A description a user writes wrong is refused with every problem, each
// naming the file, and the line and column where the JSON itself is wrong.
func TestLoadDescriptions_Problems(t *testing.T) {
	const valid = `{"model": "M", "ieee": "0x00124b0000000001", "type": "router",
 "endpoints": [{"id": 1, "in": [0, 6], "attributes": {"0x0000": {"0x0005": ["string", "M"]}, "0x0006": {"0x0000": ["bool", true]}}}]}`
	tests := []struct {
		name  string
		files map[string]string
		want  []string // the problems, one per line after the heading; nil: loads
	}{
		{"valid", map[string]string{"d/a.json": valid}, nil},
		{"misspelt key", map[string]string{"d/a.json": `{"model": "M",
  "endpoint": []}`}, []string{`d/a.json:2:3: unknown field "endpoint"`}},
		{"syntax", map[string]string{"d/a.json": "{\n  \"ieee\": 0x12\n}"}, []string{
			`d/a.json:2:12: invalid character 'x' after object key:value pair`}},
		{"wrong JSON type", map[string]string{"d/a.json": "{\n  \"type\": 5\n}"}, []string{
			`d/a.json:2:11: cannot unmarshal number into Go struct field Description.type of type string`}},
		{"every problem of a file", map[string]string{"d/a.json": `{"ieee": "nope", "type": "lamp",
 "endpoints": [{"id": 1, "attributes": {"0x0006": {"0x0000": ["bool", 2], "0x4003": ["enum9", 1]}, "0x0402": {"0x0000": ["int16", "warm"], "0x0001": ["uint8", 1.5]}}},
               {"id": 1}, {"id": 0}]}`}, []string{
			`d/a.json: ieee "nope" is not a 64-bit hex address`,
			`d/a.json: type "lamp" is not router or end_device`,
			`d/a.json: endpoint 1 cluster 0x0006 attribute 0x0000 (bool): value 2 is outside 0..1`,
			`d/a.json: endpoint 1 cluster 0x0006 attribute 0x4003: type "enum9" is not one of ` + typeNames(),
			`d/a.json: endpoint 1 cluster 0x0402 attribute 0x0000 (int16): value "warm" is not a number`,
			`d/a.json: endpoint 1 cluster 0x0402 attribute 0x0001 (uint8): value 1.5 is not a whole number`,
			`d/a.json: endpoint 1 is described twice`,
			`d/a.json: endpoint 0: the id must be 1 to 240`,
			`d/a.json: endpoint 1 has no Basic modelId (cluster 0x0000 attribute 0x0005)`,
		}},
		{"every file", map[string]string{"d/a.json": `{"type": "router"}`, "d/b.json": valid, "d/c.json": `{"ieee": "0x1", "type": "router", "endpoints": [{"id": 1, "attributes": {"0x0000": {"0x0005": ["string", 5]}}}]}`}, []string{
			`d/a.json: ieee "" is not a 64-bit hex address`,
			`d/a.json: no endpoints`,
			`d/c.json: endpoint 1 cluster 0x0000 attribute 0x0005 (string): value 5 is not a string`,
			`d/c.json: endpoint 1 has no Basic modelId (cluster 0x0000 attribute 0x0005)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, text := range tt.files {
				fsys[name] = &fstest.MapFile{Data: []byte(text)}
			}
			descs, err := LoadDescriptions(fsys, "d")
			if tt.want == nil {
				if err != nil || len(descs) != len(tt.files) {
					t.Fatalf("got %d descriptions, error %v; want %d, no error", len(descs), err, len(tt.files))
				}
				return
			}
			if err == nil {
				t.Fatalf("loaded %d descriptions, want an error", len(descs))
			}
			got := strings.Split(err.Error(), "\n  ")
			if got[0] != "device descriptions:" {
				t.Errorf("heading %q, want %q", got[0], "device descriptions:")
			}
			if strings.Join(got[1:], "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got[1:], "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// SetAttribute takes the number types a Go caller has, and refuses a value
// the attribute's type cannot hold.
func TestCheckValue(t *testing.T) {
	tests := []struct {
		typ     string
		value   any
		wantErr string
	}{
		{"int16", int(-32768), ""},
		{"int16", uint8(7), ""},
		{"int16", float32(21.0), ""},
		{"int16", 32768.0, "value 32768 is outside -32768..32767"},
		{"uint8", -1.0, "value -1 is outside 0..255"},
		{"uint48", 281474976710655.0, ""},
		{"bool", true, ""},
		{"bool", 2, "value 2 is outside 0..1"},
		{"enum8", "on", `value "on" is not a number`},
		{"uint8", nil, "value null is not a number"},
		{"uint16", 1.5, "value 1.5 is not a whole number"},
		{"string", "lumi.sensor_ht", ""},
		{"string", 5, "value 5 is not a string"},
		{"string", strings.Repeat("x", 255), "the string has 255 bytes, more than 254"},
	}
	for _, tt := range tests {
		err := checkValue(typeIDs[tt.typ], numberValue(tt.value))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.wantErr {
			t.Errorf("%s %#v: got %q, want %q", tt.typ, tt.value, got, tt.wantErr)
		}
	}
}
