package replay

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// secretPaths are the bridge/info fields that identify or unlock a Zigbee
// network; recordings never keep them.
var secretPaths = []string{
	"config.advanced.network_key", "config.advanced.pan_id", "config.advanced.ext_pan_id",
	"network.extended_pan_id", "network.pan_id", "config.mqtt.password", "config.mqtt.user",
	"config.frontend.auth_token",
}

// Redact replaces network keys, PAN ids and credentials in recorded bridge
// messages with "REDACTED".
func Redact(lines []Line) {
	for i := range lines {
		if lines[i].Payload == nil || !strings.HasSuffix(lines[i].Topic, "/bridge/info") {
			continue
		}
		p := []byte(lines[i].Payload)
		for _, path := range secretPaths {
			if gjson.GetBytes(p, path).Exists() {
				p, _ = sjson.SetBytes(p, path, "REDACTED")
			}
		}
		lines[i].Payload = canonical(p)
	}
}

var ieeeRe = regexp.MustCompile(`0x[0-9a-fA-F]{16}`)

// Anonymize rewrites IEEE addresses to 0x00000000000000NN and friendly
// names (learned from bridge/devices and bridge/groups) to device_N and
// group_N, in topics and payloads, consistently across the recording.
func Anonymize(lines []Line, z2mTopic string) {
	names := map[string]string{}
	var order []string
	learn := func(list gjson.Result, kind string) {
		list.ForEach(func(_, v gjson.Result) bool {
			n := v.Get("friendly_name").String()
			if n != "" && n != "Coordinator" && names[n] == "" {
				names[n] = fmt.Sprintf("%s_%d", kind, len(names)+1)
				order = append(order, n)
			}
			return true
		})
	}
	for _, l := range lines {
		switch l.Topic {
		case z2mTopic + "/bridge/devices":
			learn(gjson.ParseBytes(l.Payload), "device")
		case z2mTopic + "/bridge/groups":
			learn(gjson.ParseBytes(l.Payload), "group")
		}
	}
	// Longest names first, so "lamp 2" is not rewritten through "lamp".
	sort.SliceStable(order, func(i, j int) bool { return len(order[i]) > len(order[j]) })
	ieees := map[string]string{}
	fakeIEEE := func(s string) string {
		s = strings.ToLower(s)
		if f, ok := ieees[s]; ok {
			return f
		}
		f := fmt.Sprintf("0x%016x", len(ieees)+1)
		ieees[s] = f
		return f
	}
	rewrite := func(s string) string {
		s = ieeeRe.ReplaceAllStringFunc(s, fakeIEEE)
		for _, n := range order {
			s = strings.ReplaceAll(s, n, names[n])
		}
		return s
	}
	for i := range lines {
		l := &lines[i]
		if rest, ok := strings.CutPrefix(l.Topic, z2mTopic+"/"); ok {
			l.Topic = z2mTopic + "/" + rewrite(rest)
		} else {
			// IoT2MQTT command topics carry IEEE-based device ids.
			l.Topic = ieeeRe.ReplaceAllStringFunc(l.Topic, fakeIEEE)
		}
		if l.PayloadText != nil {
			s := rewrite(*l.PayloadText)
			l.PayloadText = &s
		}
		if l.Payload != nil {
			l.Payload = json.RawMessage(rewrite(string(l.Payload)))
		}
	}
}
