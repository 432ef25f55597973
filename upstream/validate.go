package upstream

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// ValidateConfig checks configuration.yaml bytes the way the pinned
// Zigbee2MQTT does before it starts: against its settings JSON schema, plus
// the checks Zigbee2MQTT makes in code (network_key, pan_id and ext_pan_id
// given as strings must be "GENERATE") and the ones this translator relies on
// (settings version 5, key and extended PAN ID lengths, byte ranges). The
// error is a *ValidationError whose problems name each field, wrapped with
// "invalid Zigbee2MQTT configuration".
func ValidateConfig(schema *Schema, data []byte) error {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("invalid Zigbee2MQTT configuration: not YAML: %w", err)
	}
	doc = normalizeKeys(doc)
	probs := schema.problems(doc)
	if m, ok := doc.(map[string]any); ok {
		probs = append(probs, extraChecks(m)...)
	}
	if len(probs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid Zigbee2MQTT configuration: %w", &ValidationError{Problems: probs})
}

// ValidateInstalled validates against the schema of the Zigbee2MQTT installed
// under installDir (the npm prefix).
func ValidateInstalled(installDir string, data []byte) error {
	s, err := LoadSchema(SchemaPath(installDir))
	if err != nil {
		return err
	}
	return ValidateConfig(s, data)
}

func extraChecks(cfg map[string]any) []Problem {
	var probs []Problem
	add := func(path, format string, args ...any) {
		probs = append(probs, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if v, ok := number(cfg["version"]); !ok || v != SettingsVersion {
		add("version", "must be %d (Zigbee2MQTT migrates older files in place), got %s", SettingsVersion, show(cfg["version"]))
	}
	adv, _ := cfg["advanced"].(map[string]any)
	for _, f := range []struct {
		key  string
		size int
	}{{"network_key", 16}, {"ext_pan_id", 8}, {"pan_id", 0}} {
		v, ok := adv[f.key]
		if !ok {
			continue
		}
		path := "advanced." + f.key
		switch t := v.(type) {
		case string:
			if t != "GENERATE" {
				add(path, "a string must be \"GENERATE\", got %s", show(t))
			}
		case []any:
			if f.size > 0 && len(t) != f.size {
				add(path, "must be %d bytes, got %d", f.size, len(t))
			}
			for i, b := range t {
				if n, ok := number(b); ok && (n < 0 || n > 255 || n != float64(int(n))) {
					add(fmt.Sprintf("%s[%d]", path, i), "must be a byte (0–255), got %s", show(n))
				}
			}
		}
	}
	return probs
}

// number is v as a float64 when it is a number decoded from YAML or JSON.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}
