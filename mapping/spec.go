package mapping

import "gopkg.in/yaml.v3"

// FileSpec is the top level of a mapping file.
type FileSpec struct {
	Pos
	// Blocks are applied in order; a later block overrides an earlier one
	// for the same source key. REQUIRED (may be empty).
	Blocks []BlockSpec `yaml:"blocks"`
}

// BlockSpec is a group of rules for the devices its selector matches.
type BlockSpec struct {
	Pos
	// Name identifies the block in errors, coverage and explain output.
	// REQUIRED, unique within its file.
	Name string `yaml:"name"`
	// Select chooses the devices. OPTIONAL: when absent the block applies to
	// every device.
	Select *SelectSpec `yaml:"select"`
	// DeviceID is a template for the IoT2MQTT device id, e.g. "{ieee}"
	// (the default), "{ieee_short}", "{model}_{ieee_short}" or
	// "{friendly_name}" (slugified). OPTIONAL.
	DeviceID string `yaml:"device_id"`
	// Rules map Zigbee2MQTT payload keys to IoT2MQTT state keys. OPTIONAL.
	Rules []RuleSpec `yaml:"rules"`
	// Events lists payload keys that are discrete events (e.g. action),
	// emitted as {event, data} instead of state. Adds to lower layers.
	Events []string `yaml:"events"`
	// Include keeps only state keys matching one of these globs. OPTIONAL;
	// replaces the include list of lower layers.
	Include []string `yaml:"include"`
	// Exclude drops state keys matching any of these globs. OPTIONAL;
	// replaces the exclude list of lower layers.
	Exclude []string `yaml:"exclude"`
	// Unmatched says what happens to payload keys no rule reads: "pass"
	// (copy unchanged, the default) or "drop". OPTIONAL.
	Unmatched string `yaml:"unmatched"`
}

// SelectSpec chooses devices. Every present condition must hold; a list
// matches when any of its globs does ('*' and '?' wildcards, case-insensitive).
type SelectSpec struct {
	Pos
	Model        []string    `yaml:"model"`         // definition model, e.g. LED1545G12
	Vendor       []string    `yaml:"vendor"`        // definition vendor, e.g. IKEA
	IEEE         []string    `yaml:"ieee"`          // IEEE address, e.g. 0x000d6ffffe1a2b3c
	FriendlyName []string    `yaml:"friendly_name"` // Zigbee2MQTT friendly name, e.g. kitchen/*
	Expose       *ExposeSpec `yaml:"expose"`        // the device has at least one matching expose
}

// ExposeSpec matches one exposed property of a device.
type ExposeSpec struct {
	Pos
	// Type matches the expose type (binary, numeric, enum, text, composite,
	// list) or the specific type it belongs to (light, switch, cover, lock,
	// climate, fan).
	Type string `yaml:"type"`
	// Name matches the feature name without endpoint, e.g. state.
	Name string `yaml:"name"`
	// Property matches the payload key, e.g. state_l1 (glob).
	Property string `yaml:"property"`
	// Unit matches the unit exactly, e.g. °C.
	Unit string `yaml:"unit"`
	// Access requires these access bits: any of "state", "set", "get".
	Access []string `yaml:"access"`
}

// RuleSpec maps one value in both directions.
type RuleSpec struct {
	Pos
	// From is the gjson path read from the Zigbee2MQTT payload; in the
	// command direction it is the sjson path written into the set payload.
	// REQUIRED unless Expose is given (then it defaults to "{property}").
	From string `yaml:"from"`
	// To is the sjson path written into the IoT2MQTT state object; in the
	// command direction it is the gjson path read from the command values.
	// OPTIONAL: defaults to From.
	To string `yaml:"to"`
	// Expose makes this a template rule, instantiated once per matching
	// expose. From and To may then use {property}, {name}, {endpoint} and
	// {_endpoint} (an underscore and the endpoint, or nothing).
	Expose *ExposeSpec `yaml:"expose"`
	// Transform is a chain applied in order when reading and inverted in
	// reverse order when writing. OPTIONAL.
	Transform []TransformSpec `yaml:"transform"`
	// Reverse replaces the derived inverse for commands. OPTIONAL.
	Reverse []TransformSpec `yaml:"reverse"`
	// Direction is "both" (default), "read" (state only) or "write"
	// (commands only).
	Direction string `yaml:"direction"`
	// Missing is what happens when From is absent from a payload: "skip"
	// (default), "null", "default" or "error".
	Missing string `yaml:"missing"`
	// Null is what happens when From is null: "null" (default: write null),
	// "skip", "default" or "error".
	Null string `yaml:"null"`
	// Default is the value used by the "default" policies.
	Default any `yaml:"default"`
}

// TransformSpec is one step of a transform chain. Exactly one field is set.
// A bare name (e.g. `- mired_kelvin`) is shorthand for a step without options.
type TransformSpec struct {
	Pos
	Scale       *ScaleSpec        `yaml:"scale"`
	Map         *MapSpec          `yaml:"map"`
	MiredKelvin *struct{}         `yaml:"mired_kelvin"`
	Color       *ColorSpec        `yaml:"color"`
	Clamp       *RangeSpec        `yaml:"clamp"`
	Invert      *RangeSpec        `yaml:"invert"`
	Unit        *UnitSpec         `yaml:"unit"`
	Rename      map[string]string `yaml:"rename"`
	Round       *int              `yaml:"round"`
}

func (t *TransformSpec) rewriteNode(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		return &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column, Content: []*yaml.Node{
			n, {Kind: yaml.MappingNode, Line: n.Line, Column: n.Column},
		}}
	}
	return n
}

// ScaleSpec maps the From range linearly onto the To range.
type ScaleSpec struct {
	Pos
	// From is the Zigbee2MQTT range [min, max]. REQUIRED.
	From []float64 `yaml:"from"`
	// To is the IoT2MQTT range [min, max]. REQUIRED.
	To []float64 `yaml:"to"`
	// Precision rounds the read result to this many decimals. OPTIONAL: no
	// rounding when absent.
	Precision *int `yaml:"precision"`
	// ReversePrecision rounds command values to this many decimals.
	// OPTIONAL: 0 when both From bounds are integers, else no rounding.
	ReversePrecision *int `yaml:"reverse_precision"`
}

// MapSpec maps values one to one. The short form is the value map itself
// (`map: {ON: true, OFF: false}`); the long form adds options.
type MapSpec struct {
	Pos
	// Values maps Zigbee2MQTT values (as text) to IoT2MQTT values.
	Values map[string]any `yaml:"values"`
	// Write adds command-only entries: IoT2MQTT value (as text) to
	// Zigbee2MQTT value, e.g. {toggle: TOGGLE}.
	Write map[string]any `yaml:"write"`
	// Otherwise is what happens to a value not in the map: "pass" (keep it,
	// the default), "drop" or "error".
	Otherwise string `yaml:"otherwise"`
}

func (m *MapSpec) rewriteNode(n *yaml.Node) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return n
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "values" {
			return n
		}
	}
	return &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: "values", Line: n.Line, Column: n.Column}, n,
	}}
}

// ColorSpec converts a Zigbee2MQTT colour object ({x,y} or
// {hue,saturation}) to "#RRGGBB".
type ColorSpec struct {
	Pos
	// Write is the object sent in commands: "xy" (default), "hs" or "hex".
	Write string `yaml:"write"`
}

// RangeSpec is a closed numeric range.
type RangeSpec struct {
	Pos
	Min *float64 `yaml:"min"`
	Max *float64 `yaml:"max"`
}

// UnitSpec converts between two units of the same quantity.
type UnitSpec struct {
	Pos
	From string `yaml:"from"`
	To   string `yaml:"to"`
	// Precision rounds the read result to this many decimals. OPTIONAL.
	Precision *int `yaml:"precision"`
}
