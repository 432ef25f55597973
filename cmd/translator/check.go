package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/ruleset"
	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
	"github.com/iot2mqtt/zigbee2mqtt-translator/transport"
	"github.com/tidwall/gjson"
)

// runCheck validates mapping files (the layers the daemon loads: the
// built-in generic layer and pack, then the named files or the custom
// folder) and, given a bridge/devices capture,
// lints the rules against each device's exposes and prints coverage. Lines
// read file:line:col: level: message; the exit code is 1 when there is any
// error.
func runCheck(args []string, stdout io.Writer) error {
	fs := newFlagSet("check")
	devicesPath := fs.String("devices", "", "bridge/devices capture: a JSON array, or a fixture's input.jsonl")
	brokerURL := fs.String("broker", "", "read the retained bridge/devices from this live broker instead (mqtt://host:port)")
	z2mTopic := fs.String("z2m-topic", "zigbee2mqtt", "Zigbee2MQTT base topic, with -broker")
	format := fs.String("format", "text", "text or json")
	mappingsDir := fs.String("mappings", ruleset.DefaultDir(os.Getenv), "the custom mapping files' folder, read when no files are named ($MAPPINGS_DIR, else $IOT2MQTT_PATH/mappings)")
	replacePack := fs.Bool("replace-pack", false, "leave the built-in pack out: only the custom files apply")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return usageError{fmt.Sprintf("-format %q: use text or json", *format)}
	}
	src := ruleset.Sources{Files: fs.Args(), Dir: *mappingsDir, ReplacePack: *replacePack} // named files stand in for Dir
	var findings []mapping.Finding
	loaded, err := ruleset.Load(src)
	var list mapping.ErrorList
	switch {
	case errors.As(err, &list):
		for _, e := range list {
			findings = append(findings, mapping.Finding{File: e.File, Line: e.Line, Column: e.Column, Level: "error", Msg: fieldMsg(e)})
		}
	case err != nil:
		return fmt.Errorf("check: %w", err)
	}
	var set *mapping.Set
	if loaded != nil {
		set = loaded.Set
		if *format == "text" {
			fmt.Fprintln(stdout, "rules: "+loaded.Summary())
		}
	}
	var coverage []translate.DeviceCoverage
	if set != nil && (*devicesPath != "" || *brokerURL != "") {
		var raw []byte
		var err error
		if *brokerURL != "" {
			raw, err = fetchRetained(*brokerURL, *z2mTopic+"/bridge/devices")
		} else {
			raw, err = readDevicesCapture(*devicesPath)
		}
		if err != nil {
			return fmt.Errorf("check: %w", err)
		}
		findings = append(findings, mapping.Check(set, devicesFromCapture(raw))...)
		e := translate.New(translate.Config{BaseTopic: "IoT2mqtt", InstanceID: "check", Z2MBaseTopic: "zigbee2mqtt"}, set)
		e.Handle(translate.Message{Topic: "zigbee2mqtt/bridge/devices", Payload: raw}, time.Now())
		coverage = e.Coverage()
	}
	errorsFound := 0
	for _, f := range findings {
		if f.Level == "error" {
			errorsFound++
		}
	}
	if *format == "json" {
		out, _ := json.MarshalIndent(map[string]any{"findings": findings, "coverage": coverage, "errors": errorsFound}, "", "  ")
		fmt.Fprintln(stdout, string(out))
	} else {
		for _, f := range findings {
			fmt.Fprintln(stdout, f.String())
		}
		for _, c := range coverage {
			fmt.Fprintf(stdout, "coverage %s (%s, %s):\n", c.DeviceID, c.FriendlyName, c.Model)
			for _, p := range c.Properties {
				line := fmt.Sprintf("  %-28s %-12s", p.Property, p.Status)
				if p.To != "" {
					line += " → " + p.To
				}
				if p.Rule != "" {
					line += "  [" + p.Layer + " " + p.Rule + "]"
				}
				if p.Reason != "" {
					line += "  (" + p.Reason + ")"
				}
				if p.Command != "" {
					line += "  commands: " + p.Command
				}
				fmt.Fprintln(stdout, line)
			}
		}
		if set != nil {
			fmt.Fprintf(stdout, "checked %d files, %d blocks: %d errors, %d findings\n", len(loaded.Files), len(set.Blocks()), errorsFound, len(findings))
		}
	}
	if errorsFound > 0 {
		return exitError{code: 1}
	}
	return nil
}

// fieldMsg renders a compile error's field and message.
func fieldMsg(e *mapping.Error) string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// readDevicesCapture returns the bridge/devices array from a JSON file or
// from the last bridge/devices line of a fixture.
func readDevicesCapture(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if gjson.ValidBytes(data) && gjson.ParseBytes(data).IsArray() {
		return data, nil
	}
	var found []byte
	for _, line := range strings.Split(string(data), "\n") {
		if gjson.Get(line, "topic").String() == "zigbee2mqtt/bridge/devices" {
			found = []byte(gjson.Get(line, "payload").Raw)
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%s: neither a JSON array nor a fixture with zigbee2mqtt/bridge/devices", path)
	}
	return found, nil
}

func devicesFromCapture(raw []byte) []mapping.Device {
	var out []mapping.Device
	gjson.ParseBytes(raw).ForEach(func(_, v gjson.Result) bool {
		if v.Get("type").String() == "Coordinator" {
			return true
		}
		out = append(out, mapping.ParseDevice(v))
		return true
	})
	return out
}

// fetchRetained reads one retained message from a live broker.
func fetchRetained(brokerURL, topic string) ([]byte, error) {
	u, err := url.Parse(brokerURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("-broker %q is not a URL like mqtt://host:1883", brokerURL)
	}
	got := make(chan []byte, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cli, err := transport.Dial(ctx, u, fmt.Sprintf("translator-check-%d", os.Getpid()), "", "", func(p transport.Message) {
		select {
		case got <- p.Payload:
		default:
		}
	})
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	if err := cli.Subscribe(ctx, transport.Filter{Topic: topic, QoS: 1}); err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", topic, err)
	}
	select {
	case p := <-got:
		return p, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("no retained %s on %s within 5 s", topic, u.Redacted())
	}
}
