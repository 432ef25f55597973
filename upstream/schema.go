package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// SchemaRelPath is where the settings JSON schema lives inside a Zigbee2MQTT
// install directory (the npm prefix).
const SchemaRelPath = "node_modules/zigbee2mqtt/dist/util/settings.schema.json"

// Schema is a compiled JSON schema (draft 7 unless the schema says
// otherwise), validated by github.com/santhosh-tekuri/jsonschema/v6.
type Schema struct {
	s *jsonschema.Schema
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

// schemaURL names the schema inside the compiler; it appears nowhere else.
const schemaURL = "settings.schema.json"

// CompileSchema compiles a JSON schema document.
func CompileSchema(data []byte) (*Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("compile schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("compile schema: %w", err)
	}
	s, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("compile schema: %w", err)
	}
	return &Schema{s: s}, nil
}

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
	if probs := s.problems(normalizeKeys(v)); len(probs) > 0 {
		return &ValidationError{Problems: probs}
	}
	return nil
}

// problems validates a value whose maps have string keys (normalizeKeys).
func (s *Schema) problems(v any) []Problem {
	err := s.s.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Problem{{Message: err.Error()}}
	}
	var probs []Problem
	collectProblems(ve, v, &probs)
	return probs
}

// collectProblems turns the validator's error tree into one problem per
// failed keyword. A failed oneOf or anyOf is one problem that lists why
// each alternative failed.
func collectProblems(e *jsonschema.ValidationError, doc any, probs *[]Problem) {
	switch e.ErrorKind.(type) {
	case *kind.OneOf, *kind.AnyOf:
		if len(e.Causes) > 0 {
			*probs = append(*probs, Problem{Path: dotted(doc, e.InstanceLocation),
				Message: "does not match any allowed form (" + strings.Join(causeMessages(e, doc), " | ") + ")"})
			return
		}
	}
	if add, ok := e.ErrorKind.(*kind.AdditionalProperties); ok {
		for _, name := range add.Properties {
			*probs = append(*probs, Problem{Path: dotted(doc, append(slices.Clip(e.InstanceLocation), name)), Message: "is not a known setting"})
		}
		return
	}
	if pn, ok := e.ErrorKind.(*kind.PropertyNames); ok {
		*probs = append(*probs, Problem{Path: dotted(doc, append(propertyNamesLocation(e), pn.Property)), Message: "invalid key: " + strings.Join(causeMessages(e, doc), "; ")})
		return
	}
	if req, ok := e.ErrorKind.(*kind.Required); ok {
		// Named at the missing field, as a user looks for it.
		for _, name := range req.Missing {
			*probs = append(*probs, Problem{Path: dotted(doc, append(slices.Clip(e.InstanceLocation), name)), Message: "is required"})
		}
		return
	}
	if len(e.Causes) == 0 {
		*probs = append(*probs, Problem{Path: dotted(doc, e.InstanceLocation), Message: e.ErrorKind.LocalizedString(messagePrinter)})
		return
	}
	for _, c := range e.Causes {
		collectProblems(c, doc, probs)
	}
}

// causeMessages is the messages of the problems under e, without paths.
func causeMessages(e *jsonschema.ValidationError, doc any) []string {
	var sub []Problem
	for _, c := range e.Causes {
		collectProblems(c, doc, &sub)
	}
	msgs := make([]string, len(sub))
	for i, p := range sub {
		msgs[i] = p.Message
	}
	return msgs
}

// propertyNamesLocation is the location of the object whose key failed
// propertyNames. jsonschema v6.0.3 records that location as its working
// slice, which later siblings overwrite, so it is read from the schema
// location when that is a plain chain of properties (…/properties/a/
// properties/b/propertyNames), as in Zigbee2MQTT's schema.
func propertyNamesLocation(e *jsonschema.ValidationError) []string {
	_, ptr, _ := strings.Cut(e.SchemaURL, "#")
	segs := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	if len(segs) == 0 || segs[len(segs)-1] != "propertyNames" || len(segs)%2 != 1 {
		return slices.Clone(e.InstanceLocation)
	}
	var loc []string
	for i := 0; i+1 < len(segs); i += 2 {
		if segs[i] != "properties" {
			return slices.Clone(e.InstanceLocation)
		}
		loc = append(loc, strings.ReplaceAll(strings.ReplaceAll(segs[i+1], "~1", "/"), "~0", "~"))
	}
	return loc
}

// dotted writes an instance location as the path users know from YAML:
// keys joined with dots, array indexes in brackets.
func dotted(doc any, tokens []string) string {
	var b strings.Builder
	for _, tok := range tokens {
		if a, ok := doc.([]any); ok {
			b.WriteString("[" + tok + "]")
			if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(a) {
				doc = a[i]
			}
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
		if m, ok := doc.(map[string]any); ok {
			doc = m[tok]
		}
	}
	return b.String()
}

// show renders a value for a message: its JSON, cut after 60 characters.
func show(v any) string {
	b, err := json.Marshal(v)
	switch {
	case err != nil:
		return fmt.Sprintf("%T", v)
	case len(b) > 60:
		return string(b[:57]) + "..."
	}
	return string(b)
}

// messagePrinter renders the validator's messages, numbers without
// thousands separators.
var messagePrinter = message.NewPrinter(language.Und)
