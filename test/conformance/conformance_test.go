// Package conformance drives every device definition of the pinned
// zigbee-herdsman-converters through the translation engine with the
// shipped rules, and checks that each exposed property reaches IoT2MQTT
// state (or an event) under a key of its own and that each writable one
// round-trips to the Zigbee2MQTT set payload.
//
// testdata/definitions.json.gz is generated from the installed converters
// by definitions.js; run `go test ./test/conformance -update` after a
// Zigbee2MQTT upgrade to write it again.
package conformance

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/ruleset"
	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

var update = flag.Bool("update", false, "regenerate testdata/definitions.json.gz from the installed zigbee-herdsman-converters")

const (
	definitionsFile = "testdata/definitions.json.gz"
	exclusionsFile  = "exclusions.txt"
	prefix          = "IoT2mqtt/v1/instances/zb/"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// catalog is what definitions.js writes.
type catalog struct {
	Version     string            `json:"zhc_version"`
	Definitions []definition      `json:"definitions"`
	Exposes     []json.RawMessage `json:"exposes"`
}

type definition struct {
	Model   string `json:"model"`
	Vendor  string `json:"vendor"`
	Exposes int    `json:"exposes"`
}

func TestMain(m *testing.M) {
	flag.Parse()
	if *update {
		if err := regenerate(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

func regenerate() error {
	cmd := exec.Command("node", "definitions.js")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("definitions.js: %w", err)
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(out)
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(definitionsFile, buf.Bytes(), 0o644)
}

// readCatalog decodes definitionsFile once for all the tests (5 MB of JSON).
var readCatalog = sync.OnceValues(func() (catalog, error) {
	var c catalog
	f, err := os.Open(definitionsFile)
	if err != nil {
		return c, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return c, fmt.Errorf("%s: %w", definitionsFile, err)
	}
	if err := json.NewDecoder(zr).Decode(&c); err != nil {
		return c, fmt.Errorf("%s: %w", definitionsFile, err)
	}
	return c, nil
})

func loadCatalog(t *testing.T) catalog {
	t.Helper()
	c, err := readCatalog()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// exclusion is one line of exclusions.txt: "model property: reason".
type exclusion struct{ model, property string }

func loadExclusions(t *testing.T) map[exclusion]string {
	t.Helper()
	f, err := os.Open(exclusionsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[exclusion]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		head, reason, ok := strings.Cut(line, ":")
		fields := strings.Fields(head)
		if !ok || len(fields) != 2 || strings.TrimSpace(reason) == "" {
			t.Fatalf("%s:%d: want \"<model> <property>: <reason>\", got %q", exclusionsFile, n, line)
		}
		out[exclusion{fields[0], fields[1]}] = strings.TrimSpace(reason)
	}
	return out
}

// TestInstalledVersion fails when the committed definitions come from
// another zigbee-herdsman-converters than the one test/deps.sh installs.
func TestInstalledVersion(t *testing.T) {
	pkg, err := os.ReadFile(filepath.Join("..", "..", ".cache", "z2m", "node_modules", "zigbee-herdsman-converters", "package.json"))
	if err != nil {
		t.Skip("zigbee2mqtt is not installed (test/deps.sh installs it)")
	}
	got, want := loadCatalog(t).Version, gjson.GetBytes(pkg, "version").String()
	if got != want {
		t.Errorf("%s is from zigbee-herdsman-converters %s, the installed one is %s; run go test ./test/conformance -update", definitionsFile, got, want)
	}
}

// failure is one conformance problem.
type failure struct {
	model, property, what string
}

func TestCatalog(t *testing.T) {
	cat := loadCatalog(t)
	excluded := loadExclusions(t)
	loaded, err := ruleset.Load(ruleset.Sources{Dir: filepath.Join(t.TempDir(), "none")})
	if err != nil {
		t.Fatal(err)
	}
	var failures []failure
	props, writable := 0, 0
	for start := 0; start < len(cat.Definitions); start += 500 {
		end := min(start+500, len(cat.Definitions))
		batch := newBatch(t, loaded.Set, cat, start, end)
		for _, dev := range batch.devices {
			f, p, w := batch.check(dev)
			failures = append(failures, f...)
			props += p
			writable += w
		}
	}
	used := map[exclusion]bool{}
	var open []string
	for _, f := range failures {
		key := exclusion{f.model, f.property}
		if _, ok := excluded[key]; ok {
			used[key] = true
			continue
		}
		open = append(open, fmt.Sprintf("%s %s: %s", f.model, f.property, f.what))
	}
	for key := range excluded {
		if !used[key] {
			t.Errorf("%s: %s %s no longer fails; remove the exclusion", exclusionsFile, key.model, key.property)
		}
	}
	sort.Strings(open)
	t.Logf("zigbee-herdsman-converters %s: %d definitions, %d exposed properties, %d writable; %d failures, %d excluded",
		cat.Version, len(cat.Definitions), props, writable, len(open), len(used))
	for i, line := range open {
		if i == 2000 {
			t.Errorf("... and %d more", len(open)-i)
			break
		}
		t.Error(line)
	}
}

// batch is an engine that knows some of the catalog's definitions as
// devices.
type batch struct {
	t       *testing.T
	engine  *translate.Engine
	set     *mapping.Set
	devices []*catalogDevice
	seq     int // command ids
}

type catalogDevice struct {
	def     definition
	name    string
	dev     mapping.Device
	exposes gjson.Result
}

func newBatch(t *testing.T, set *mapping.Set, cat catalog, start, end int) *batch {
	b := &batch{t: t, set: set, engine: translate.New(translate.Config{
		BaseTopic: "IoT2mqtt", InstanceID: "zb", Z2MBaseTopic: "zigbee2mqtt", QoS: 1, RetainState: true,
	}, set)}
	list := []byte(`[{"ieee_address":"0x00124b0000000000","friendly_name":"Coordinator","type":"Coordinator","interview_completed":true}]`)
	for i := start; i < end; i++ {
		def := cat.Definitions[i]
		entry := fmt.Sprintf(`{"ieee_address":"0x%016x","friendly_name":"d%d","type":"Router","power_source":"Mains (single phase)","interview_completed":true,"supported":true,"definition":{"model":%q,"vendor":%q,"exposes":%s}}`,
			0x00158d0000000000+i, i, def.Model, def.Vendor, cat.Exposes[def.Exposes])
		list, _ = sjson.SetRawBytes(list, "-1", []byte(entry))
		parsed := gjson.ParseBytes([]byte(entry))
		b.devices = append(b.devices, &catalogDevice{def: def, name: fmt.Sprintf("d%d", i), dev: mapping.ParseDevice(parsed), exposes: parsed.Get("definition.exposes")})
	}
	b.engine.Handle(translate.Message{Topic: "zigbee2mqtt/bridge/devices", Payload: list, Retain: true}, t0)
	return b
}

// check publishes a state payload with a value for every exposed property
// of dev, then a command per writable property made of the state just
// published. It returns the failures and the counts of properties checked.
func (b *batch) check(cd *catalogDevice) (failures []failure, props, writable int) {
	fail := func(prop, format string, args ...any) {
		failures = append(failures, failure{cd.def.Model, prop, fmt.Sprintf(format, args...)})
	}
	values := map[string]any{}
	payload := []byte("{}")
	walkExposes(cd.exposes, func(e gjson.Result) {
		v := sample(e)
		prop := e.Get("property").String()
		if old, ok := values[prop].(map[string]any); ok {
			if add, ok := v.(map[string]any); ok { // color_xy and color_hs share "color"
				for k, x := range add {
					old[k] = x
				}
				v = old
			}
		}
		values[prop] = v
		payload, _ = sjson.SetBytes(payload, gjson.Escape(prop), v)
	})
	plan := b.set.Plan(&cd.dev)
	id := plan.DeviceID(&cd.dev)
	r := b.engine.Handle(translate.Message{Topic: "zigbee2mqtt/" + cd.name, Payload: payload}, t0)
	state := gjson.Result{}
	events := map[string]bool{}
	for _, m := range r.Publish {
		switch m.Topic {
		case prefix + "devices/" + id + "/state":
			state = gjson.GetBytes(m.Payload, "state")
		case prefix + "devices/" + id + "/events":
			gjson.GetBytes(m.Payload, "data").ForEach(func(k, _ gjson.Result) bool {
				events[k.Str] = true
				return true
			})
		case prefix + "devices/" + id + "/error":
			fail("", "state payload: %s", gjson.GetBytes(m.Payload, "message"))
		}
	}
	if !state.Exists() {
		fail("", "no state envelope for %s", payload)
		return failures, 0, 0
	}
	owner := map[string]string{}
	for i := range cd.dev.Properties {
		p := &cd.dev.Properties[i]
		if p.Access&mapping.AccessState == 0 {
			continue
		}
		props++
		if plan.Events[p.Property] || events[p.Property] && !p.Writable() {
			if !events[p.Property] {
				fail(p.Property, "is an event, and no event was published")
			}
			continue // an event, or data of one (action_group)
		}
		key := stateKey(plan, p)
		if key == "" {
			fail(p.Property, "no rule reads it")
			continue
		}
		if o, ok := owner[key]; ok && o != p.Property {
			fail(p.Property, "collides with %s on state key %q", o, key)
			continue
		}
		owner[key] = p.Property
		if key == "online" || key == "last_update" {
			fail(p.Property, "lands on the reserved state key %q", key)
			continue
		}
		if !state.Get(gjson.Escape(key)).Exists() {
			fail(p.Property, "state key %q is missing from %s", key, state.Raw)
		}
	}
	for i := range cd.dev.Properties {
		p := &cd.dev.Properties[i]
		if !p.Writable() {
			continue
		}
		writable++
		if what := b.roundTrip(cd, plan, id, p, values[p.Property], state); what != "" {
			fail(p.Property, "%s", what)
		}
	}
	return failures, props, writable
}

func topKey(path string) string {
	top, _, _ := strings.Cut(path, ".")
	return top
}

// stateKey is the top-level state key the plan writes p to.
func stateKey(plan *mapping.Plan, p *mapping.Property) string {
	for _, b := range plan.Rules {
		if b.Rule.CanRead() && (b.Prop == p || b.From == p.Property) {
			top, _, _ := strings.Cut(b.To, ".")
			return top
		}
	}
	if plan.Unmatched == "pass" {
		return p.Property
	}
	return ""
}

// roundTrip commands p with the platform's value for it and checks the set
// payload. It returns what went wrong, or "".
func (b *batch) roundTrip(cd *catalogDevice, plan *mapping.Plan, id string, p *mapping.Property, orig any, state gjson.Result) string {
	var rule *mapping.Bound
	for _, bd := range plan.Rules {
		if bd.Rule.CanWrite() && bd.Writable && (bd.Prop == p || bd.From == p.Property) {
			rule = bd
			break
		}
	}
	key, platform := p.Property, any(orig)
	if rule != nil {
		key = rule.To
		if want := stateKey(plan, p); p.Access&mapping.AccessState != 0 && want != "" && topKey(key) != want {
			return fmt.Sprintf("is read as %q and written as %q", want, key)
		}
		if v := state.Get(gjson.Escape(key)); v.Exists() && p.Access&mapping.AccessState != 0 {
			platform = v.Value()
		} else if len(rule.Rule.Read) > 0 {
			var err error
			if platform, err = rule.Rule.Read.Read(orig); err != nil {
				return fmt.Sprintf("reading the sample %v: %v", orig, err)
			}
		}
	} else if plan.Unmatched != "pass" {
		return "no rule writes it"
	}
	b.seq++
	cmd, _ := sjson.SetBytes([]byte(fmt.Sprintf(`{"id":"c%d"}`, b.seq)), "values."+gjson.Escape(key), platform)
	r := b.engine.Handle(translate.Message{Topic: prefix + "devices/" + id + "/cmd", Payload: cmd}, t0)
	var set gjson.Result
	for _, m := range r.Publish {
		switch {
		case m.Topic == "zigbee2mqtt/"+cd.name+"/set":
			set = gjson.ParseBytes(m.Payload)
		case strings.HasSuffix(m.Topic, "/error"):
			return fmt.Sprintf("command %s refused: %s", cmd, gjson.GetBytes(m.Payload, "message"))
		}
	}
	b.engine.Tick(t0.Add(time.Hour)) // forget the pending command
	if !set.Exists() {
		return fmt.Sprintf("command %s sent nothing", cmd)
	}
	got := set.Get(gjson.Escape(p.Property))
	if !got.Exists() {
		return fmt.Sprintf("command %s sent %s without %s", cmd, set.Raw, p.Property)
	}
	if same(orig, got.Value()) {
		return ""
	}
	// A colour may come back in the other colour space: equivalent when
	// the rule reads both as the same platform value.
	if rule != nil && len(rule.Rule.Read) > 0 {
		if back, err := rule.Rule.Read.Read(got.Value()); err == nil && same(back, platform) {
			return ""
		}
	}
	return fmt.Sprintf("command %s sent %s=%s, want %v", cmd, p.Property, got.Raw, jsonText(orig))
}

// same compares a sample with what came back: numbers within 2 % (colour
// coordinates within 0.01), text without case, objects key by key.
func same(want, got any) bool {
	switch w := want.(type) {
	case float64:
		g, ok := got.(float64)
		return ok && math.Abs(w-g) <= math.Max(0.02*math.Abs(w), 0.01)
	case string:
		g, ok := got.(string)
		return ok && strings.EqualFold(w, g)
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if !same(v, g[k]) {
				return false
			}
		}
		return true
	}
	return jsonText(want) == jsonText(got)
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// walkExposes calls fn for each expose that carries a payload property,
// descending into the features of lights, switches, covers, locks,
// climates and fans.
func walkExposes(exposes gjson.Result, fn func(gjson.Result)) {
	exposes.ForEach(func(_, e gjson.Result) bool {
		if e.Get("property").Exists() {
			fn(e)
		} else {
			walkExposes(e.Get("features"), fn)
		}
		return true
	})
}

// sample is a value Zigbee2MQTT could publish for the expose.
func sample(e gjson.Result) any {
	switch e.Get("type").String() {
	case "binary":
		return e.Get("value_on").Value()
	case "numeric":
		switch e.Get("name").String() {
		case "x", "y":
			return 0.3
		case "hue":
			return 240.0
		case "saturation":
			return 80.0
		}
		lo, hi := e.Get("value_min"), e.Get("value_max")
		switch {
		case lo.Exists() && hi.Exists():
			mid := (lo.Num + hi.Num) / 2
			if step := e.Get("value_step").Num; step > 0 {
				return lo.Num + math.Round((mid-lo.Num)/step)*step
			}
			if f := math.Floor(mid); f >= lo.Num {
				return f
			}
			return mid
		case lo.Exists():
			return lo.Num + 7
		case hi.Exists():
			return hi.Num - 7
		}
		return 7.0
	case "enum":
		vals := e.Get("values").Array()
		if len(vals) == 0 {
			return "x"
		}
		return vals[len(vals)-1].Value()
	case "text":
		return "sample text"
	case "list":
		return []any{}
	case "composite":
		obj := map[string]any{}
		e.Get("features").ForEach(func(_, f gjson.Result) bool {
			if p := f.Get("property").String(); p != "" {
				obj[p] = sample(f)
			}
			return true
		})
		return obj
	}
	return nil
}
