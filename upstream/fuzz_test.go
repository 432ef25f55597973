package upstream_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/iot2mqtt/zigbee2mqtt-translator/upstream"
)

var fuzzIEEE = regexp.MustCompile(`^0x[0-9a-f]{16}$`)

// FuzzParseInstance decodes arbitrary instance JSON. Errors are fine; an
// accepted instance must keep every documented range, yield topic-safe
// device ids, group ids and base topic, and render a configuration.yaml
// that is YAML.
func FuzzParseInstance(f *testing.F) {
	paths, err := filepath.Glob("testdata/instances/*.json")
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seed instances: %v", err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		`{}`,
		`null`,
		`[]`,
		`{"instance_id":"zb1","connection":{},"devices":[]}`,
		`{"connection":{"serial_port":"/dev/ttyUSB0","channel":"15","pan_id":6754,"ext_pan_id":"0xdddddddddddddddd","network_key":"__SECRET__network_key"}}`,
		`{"connection":null,"serial_port":"tcp://h:1","adapter":"ZStack","baudrate":"115200","rtscts":"true","channel":26}`,
		`{"devices":[{"ieee":"0x00158D0001A2B3C4","device_id":"hall","friendly_name":"Hall","enabled":"false","model":"X"},{"device_id":"0x00158d0001a2b3c5"}]}`,
		`{"devices":[{"ieee":"0x00158d0001a2b3c4","device_id":"a/b"},{"ieee":"0x00158d0001a2b3c4","device_id":"#"}]}`,
		`{"groups":[{"group_id":1,"devices":["0x00158d0001a2b3c4"]},{"group_id":"x/+","devices":[]}]}`,
		`{"groups":[{"group_id":"g","devices":["hall","a/#"]}]}`,
		`{"z2m_base_topic":"z2m/upstairs","mappings":[{"name":"m","rules":[{"from":"a","to":"b"}]}],"zigbee2mqtt":{"advanced":{"log_level":"debug"},"frontend":null}}`,
		`{"z2m_base_topic":"/bad/","state_key_topics":"no","command_timeout_ms":99,"http_addr":"0.0.0.0:8081"}`,
		`{"serial_port":"/dev/x","zigbee2mqtt":{"a":` + strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat(`}`, 100) + `}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		inst, err := upstream.ParseInstance(data, "zb1", "/app")
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if !topicSafeBase(inst.Z2MBaseTopic) {
			t.Errorf("z2m_base_topic %q is not a topic without wildcards or empty levels", inst.Z2MBaseTopic)
		}
		for _, d := range inst.Devices {
			if !fuzzIEEE.MatchString(d.IEEE) {
				t.Errorf("device ieee %q is not an IEEE address", d.IEEE)
			}
			if !topicLevel(d.DeviceID) {
				t.Errorf("device_id %q is not one topic level", d.DeviceID)
			}
		}
		for _, g := range inst.Groups {
			if !topicLevel(g.GroupID) {
				t.Errorf("group_id %q is not one topic level", g.GroupID)
			}
			for _, m := range g.Devices {
				if !topicLevel(m) {
					t.Errorf("group %s member %q is not one topic level", g.GroupID, m)
				}
			}
		}
		ranges := []struct {
			name          string
			got, min, max int
		}{
			{"frontend_port", inst.FrontendPort, 1, 65535},
			{"permit_join_seconds", inst.PermitJoinSeconds, 0, 254},
			{"command_timeout_ms", inst.CommandTimeoutMS, 100, 3600000},
			{"sleepy_command_timeout_ms", inst.SleepyCommandTimeoutMS, 100, 3600000},
		}
		if a := inst.Adapter; a != nil {
			ranges = append(ranges, struct {
				name          string
				got, min, max int
			}{"channel", a.Channel, 11, 26}, struct {
				name          string
				got, min, max int
			}{"baudrate", a.Baudrate, 1200, 4000000})
		}
		for _, r := range ranges {
			if r.got < r.min || r.got > r.max {
				t.Errorf("%s = %d, out of %d–%d", r.name, r.got, r.min, r.max)
			}
		}
		if inst.Adapter == nil {
			return
		}
		upstream.NetworkIdentity{Channel: inst.Adapter.Channel, PanID: 0x1a62, ExtPanID: "dddddddddddddddd", NetworkKey: "01030507090b0d0f00020406080a0c0d"}.ApplyTo(inst.Adapter)
		out, err := upstream.Render(inst, upstream.MQTTSettings{Server: "mqtt://127.0.0.1:1883", User: "u", Password: "p"})
		if err != nil {
			return // e.g. a protected setting in the zigbee2mqtt object
		}
		var v map[string]any
		if err := yaml.Unmarshal(out, &v); err != nil {
			t.Fatalf("rendered configuration is not YAML: %v\n%s", err, out)
		}
	})
}

func topicLevel(s string) bool {
	return s != "" && utf8.ValidString(s) && !strings.ContainsAny(s, "/+#\x00")
}

func topicSafeBase(s string) bool {
	if s == "" || !utf8.ValidString(s) || strings.ContainsAny(s, "+#\x00") {
		return false
	}
	for _, l := range strings.Split(s, "/") {
		if l == "" {
			return false
		}
	}
	return true
}
