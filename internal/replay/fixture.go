// Package replay runs recorded MQTT traffic through the translation engine
// and compares what it publishes with the expected publications of a
// fixture. `translator replay`, `translator record` and the test/ suite use it.
//
// A fixture is a directory:
//
//	input.jsonl      the recorded messages, one JSON object per line
//	expected.jsonl   the expected publications, one per line
//	instance.json    optional instance JSON (overrides, groups, mappings)
//	mappings/        optional integrator's mapping files
//	timezone         optional IANA zone naive command timestamps are read in
//	                 (the daemon's TZ; default UTC)
//
// Each line of input.jsonl is
//
//	{"t":1.5,"topic":"zigbee2mqtt/lamp","payload":{"state":"ON"},"qos":1,"retain":false}
//
// where t is seconds since the start, payload is the message when it is
// JSON, and payload_text holds it when it is not ("online"). A line
// {"t":12,"tick":true} only advances the clock (command timeouts fire).
// expected.jsonl lines have topic, payload or payload_text, qos and retain;
// timestamps are normalised to "<ts>".
package replay

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Line is one line of input.jsonl or expected.jsonl.
type Line struct {
	T           float64         `json:"t,omitempty"`
	Tick        bool            `json:"tick,omitempty"`
	Topic       string          `json:"topic,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	PayloadText *string         `json:"payload_text,omitempty"`
	QoS         byte            `json:"qos"`
	Retain      bool            `json:"retain"`
}

// Bytes returns the MQTT payload the line describes.
func (l *Line) Bytes() []byte {
	if l.PayloadText != nil {
		return []byte(*l.PayloadText)
	}
	return []byte(l.Payload)
}

// SetPayload stores an MQTT payload: as JSON when it is a JSON object or
// array, as text otherwise (including the empty payload that clears a
// retained topic).
func (l *Line) SetPayload(p []byte) {
	trimmed := bytes.TrimSpace(p)
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') && json.Valid(trimmed) {
		var buf bytes.Buffer
		if json.Compact(&buf, trimmed) == nil {
			l.Payload = canonical(buf.Bytes())
			return
		}
	}
	s := string(p)
	l.PayloadText = &s
}

// canonical re-encodes JSON with sorted object keys.
func canonical(b []byte) json.RawMessage {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return b
	}
	out, err := marshal(v)
	if err != nil {
		return b
	}
	return out
}

// ReadLines reads a JSON Lines file. Blank lines and lines starting with
// '#' or '//' are skipped; errors name the file and line.
func ReadLines(path string) ([]Line, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLines(path, f)
}

func readLines(name string, r io.Reader) ([]Line, error) {
	var out []Line
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	n := 0
	for sc.Scan() {
		n++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") || strings.HasPrefix(text, "//") {
			continue
		}
		var l Line
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		if !l.Tick && l.Topic == "" {
			return nil, fmt.Errorf("%s:%d: a line needs a topic (or \"tick\":true)", name, n)
		}
		if l.Payload != nil && l.PayloadText != nil {
			return nil, fmt.Errorf("%s:%d: give payload or payload_text, not both", name, n)
		}
		out = append(out, l)
	}
	return out, sc.Err()
}

// WriteLines writes lines as JSON Lines, one compact object per line.
func WriteLines(path string, lines []Line) error {
	var buf bytes.Buffer
	for i := range lines {
		b, err := marshal(&lines[i])
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// FormatLine renders one line as it appears in a .jsonl file.
func FormatLine(l Line) string {
	b, _ := marshal(&l)
	return string(b)
}

// Cases lists the fixture directories under root (those with input.jsonl).
func Cases(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, e.Name(), "input.jsonl")); err == nil {
			out = append(out, filepath.Join(root, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// marshal encodes v as compact JSON without HTML escaping, so "<ts>" and
// "&" stay readable in fixtures.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
