package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/coordinator"
	"github.com/iot2mqtt/zigbee2mqtt-translator/daemon"
	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/replay"
	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/ruleset"
	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
	"github.com/iot2mqtt/zigbee2mqtt-translator/transport"
	"github.com/iot2mqtt/zigbee2mqtt-translator/upstream"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

//go:embed sandbox.jsonl
var sandboxFixture []byte

// sandboxModes is the sandbox's -h text on its two modes.
var sandboxModes = `Two modes:
  virtual network (default)  the real Zigbee2MQTT ` + upstream.Z2MVersion + ` on the emulated Z-Stack coordinator with
                             the built-in device descriptions; the translator runs embedded, as in
                             the container. Zigbee2MQTT is installed from npm on first use
                             (upstream/install.sh: needs Node.js and npm; without them the sandbox
                             says so and runs the scripted mode).
  scripted (-scripted)       a simulated Zigbee2MQTT plays recorded messages (-fixture, or a
                             built-in demo) and echoes commands; needs nothing but Go.
`

// runSandbox starts an embedded broker (unless -broker is given) and the
// translator with one of two Zigbee2MQTTs: by default the real, pinned
// Zigbee2MQTT on a virtual network (the emulated coordinator and its
// devices), or with -scripted (or -fixture) a simulated Zigbee2MQTT that
// plays recorded messages. It prints the translated traffic.
func runSandbox(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sandbox")
	brokerFlag := fs.String("broker", "", "use this broker (mqtt://host:port) instead of the embedded one")
	listen := fs.String("listen", "127.0.0.1:1883", "embedded broker address (a free port is used when busy)")
	scripted := fs.Bool("scripted", false, "play recorded Zigbee2MQTT messages instead of running the real Zigbee2MQTT")
	control := fs.String("control", "127.0.0.1:6639", "the virtual coordinator's control interface (a free port is used when busy)")
	fixture := fs.String("fixture", "", "scripted mode: input.jsonl (or fixture directory) to play (default: a built-in demo network)")
	quiet := fs.Bool("quiet", false, "do not print translated traffic")
	mappingsDir := fs.String("mappings", ruleset.DefaultDir(os.Getenv), "the custom mapping files' folder, on top of the built-in pack; a fixture's own mappings/ takes its place")
	replacePack := fs.Bool("replace-pack", false, "leave the built-in pack out: only the custom files apply")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *fixture != "" {
		*scripted = true
	}
	if !*scripted {
		dir, err := upstream.Install(ctx, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "sandbox: %v\nsandbox: running the scripted mode instead (translator sandbox -scripted), which plays recorded Zigbee2MQTT messages\n\n", err)
			*scripted = true
		} else if err := os.Setenv(upstream.InstallDirEnv, dir); err != nil {
			return err
		}
	}
	brokerURL := *brokerFlag
	if brokerURL == "" {
		addr, stop, err := startEmbeddedBroker(*listen)
		if err != nil {
			return err
		}
		defer stop()
		brokerURL = "mqtt://" + addr
	}
	u, err := url.Parse(brokerURL)
	if err != nil || u.Host == "" {
		return usageError{fmt.Sprintf("-broker %q is not a URL like mqtt://host:1883", brokerURL)}
	}
	home, err := os.MkdirTemp("", "translator-sandbox")
	if err != nil {
		return err
	}
	defer os.RemoveAll(home)
	if err := os.MkdirAll(filepath.Join(home, "instances"), 0o755); err != nil {
		return err
	}
	cfg := &daemon.Config{Version: version, InstanceName: "sandbox", Home: home, BrokerURL: &url.URL{Scheme: "mqtt", Host: u.Host}, BaseTopic: "IoT2mqtt",
		ClientPrefix: "iot2mqtt", QoS: 1, Retain: true, KeepAlive: 30, LogLevel: sandboxLogLevel(), LogFormat: "console",
		MappingsDir: *mappingsDir, ReplacePack: *replacePack}
	port, _ := strconv.Atoi(u.Port())
	watch := fmt.Sprintf("mosquitto_sub -h %s -p %d -t 'IoT2mqtt/#' -v", u.Hostname(), port)
	pub := fmt.Sprintf("mosquitto_pub -h %s -p %d -t 'IoT2mqtt/v1/instances/sandbox/devices/", u.Hostname(), port)

	var d *daemon.Daemon
	var stop func()
	if *scripted {
		d, stop, err = startScripted(ctx, cfg, *fixture, u.Host, watch, pub, stdout, stderr)
	} else {
		d, stop, err = startVirtualNetwork(ctx, cfg, *control, u.Host, watch, pub, stdout, stderr)
	}
	if err != nil {
		return err
	}
	defer stop()
	if !*quiet {
		if err := watchTraffic(ctx, u.Host, stdout); err != nil {
			return err
		}
	}
	return d.Run(ctx)
}

// startScripted starts the simulated Zigbee2MQTT and a translator-only
// daemon for it, and prints the instructions. stop ends the simulator.
func startScripted(ctx context.Context, cfg *daemon.Config, fixture, host, watch, pub string, stdout, stderr io.Writer) (d *daemon.Daemon, stop func(), err error) {
	lines, dir, err := sandboxLines(fixture)
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(cfg.InstancePath(), []byte(`{"instance_id":"sandbox","connector_type":"zigbee2mqtt","connection":{},"devices":[]}`), 0o644); err != nil {
		return nil, nil, err
	}
	sim, err := startSimulator(ctx, host, lines)
	if err != nil {
		return nil, nil, err
	}
	if dir != "" {
		cfg.MappingsDir = ruleset.FixtureDir(dir, cfg.MappingsDir)
	}
	if d, err = daemon.New(cfg, daemon.NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)); err != nil {
		sim.close()
		return nil, nil, err
	}
	example, values := "<ieee>", `{"power":"toggle"}`
	if ieee, v, ok := suggestCommand(d.Rules(), sim.devices); ok {
		example, values = ieee, v
	}
	fmt.Fprintf(stdout, `translator sandbox (scripted: a simulated Zigbee2MQTT plays recorded messages)
  broker:     mqtt://%s
  watch:      %s
  command:    %s%s/cmd' -m '{"id":"1","values":%s}'
  devices:    %s
  rules:      %s
  Ctrl-C stops everything.

`, host, watch, pub, example, values, strings.Join(sim.deviceIEEEs(), " "), d.RulesSummary())
	return d, sim.close, nil
}

// sandboxLight is the IKEA bulb of the built-in device descriptions
// (coordinator/devices/ikea-led1545g12.json); sandboxSensor the SONOFF
// temperature sensor.
const (
	sandboxLight  = "0x000d6ffffe4b5c6d"
	sandboxSensor = "0x00124b0022a3b4c5"
)

// startVirtualNetwork starts the emulated coordinator with the built-in
// devices and its control interface, and an embedded daemon that runs the
// real Zigbee2MQTT on it. Once Zigbee2MQTT is up, it permits joining and
// lets every device join. It prints the instructions. stop ends the
// coordinator, after the daemon has stopped Zigbee2MQTT.
func startVirtualNetwork(ctx context.Context, cfg *daemon.Config, controlAddr, host, watch, pub string, stdout, stderr io.Writer) (d *daemon.Daemon, stop func(), err error) {
	descs, err := coordinator.LoadDescriptions(coordinator.Builtin, "devices")
	if err != nil {
		return nil, nil, err
	}
	emu, err := coordinator.New(coordinator.Config{Listen: "127.0.0.1:0", StatePath: filepath.Join(cfg.Home, "coordinator.json"), Devices: descs})
	if err != nil {
		return nil, nil, err
	}
	emuCtx, cancel := context.WithCancel(context.Background())
	if err := emu.Start(emuCtx); err != nil {
		cancel()
		return nil, nil, err
	}
	ln, err := listenOrFree(controlAddr)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	srv := &http.Server{Handler: emu.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	stop = func() {
		_ = srv.Close()
		cancel()
		emu.Wait()
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()

	instance := `{"instance_id":"sandbox","connector_type":"zigbee2mqtt","connection":{"serial_port":"tcp://` + emu.Addr() +
		`","adapter":"zstack","z2m_log_level":"warning","data_dir":"` + filepath.Join(cfg.Home, "data") + `"}}`
	if err = os.WriteFile(cfg.InstancePath(), []byte(instance), 0o644); err != nil {
		return nil, nil, err
	}
	if d, err = daemon.New(cfg, daemon.NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)); err != nil {
		return nil, nil, err
	}
	if err = joinAll(ctx, host, emu, stderr); err != nil {
		return nil, nil, err
	}
	ctl := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, `translator sandbox (virtual network: the real Zigbee2MQTT %s on an emulated Z-Stack coordinator)
  broker:       mqtt://%s
  coordinator:  tcp://%s, control %s (GET /devices)
  watch:        %s
  permit join:  %sbridge/cmd' -m '{"id":"pj","values":{"permit_join":254}}'
  join:         curl -s -XPOST %s/join -d '{"ieee":"%s"}'       (leave: %s/leave)
  report:       curl -s -XPOST %s/set -d '{"ieee":"%s","endpoint":1,"cluster":"0x0402","attribute":"0x0000","value":2250}'
  command:      %s%s/cmd' -m '{"id":"1","values":{"power":false}}'
  toggle:       %s%s/cmd' -m '{"id":"2","values":{"power":"toggle"}}'
  devices:      %d described; once Zigbee2MQTT is up, the sandbox permits joining and they all join
  rules:        %s
  Ctrl-C stops everything.

`, upstream.Z2MVersion, host, emu.Addr(), ctl, watch, pub, ctl, sandboxSensor, ctl, ctl, sandboxSensor, pub, sandboxLight, pub, sandboxLight, len(descs), d.RulesSummary())
	return d, stop, nil
}

// joinAll waits for the bridge to come online, permits joining through the
// IoT2MQTT bridge device as the platform would, and lets every described
// device join.
func joinAll(ctx context.Context, host string, emu *coordinator.Emulator, stderr io.Writer) error {
	online := make(chan struct{})
	var once sync.Once
	cli, err := transport.Dial(ctx, &url.URL{Scheme: "mqtt", Host: host}, "sandbox-joiner", "", "", func(m transport.Message) {
		if gjson.GetBytes(m.Payload, "bridge_online").Bool() {
			once.Do(func() { close(online) })
		}
	})
	if err != nil {
		return fmt.Errorf("sandbox joiner: %w", err)
	}
	if err := cli.Subscribe(ctx, transport.Filter{Topic: "IoT2mqtt/v1/instances/sandbox/meta/info", QoS: 1}); err != nil {
		return err
	}
	go func() {
		defer cli.Close()
		select {
		case <-ctx.Done():
			return
		case <-online:
		}
		_ = cli.Publish(ctx, transport.Message{Topic: "IoT2mqtt/v1/instances/sandbox/devices/bridge/cmd", Payload: []byte(`{"id":"sandbox","values":{"permit_join":254}}`), QoS: 1})
		for _, dev := range emu.Devices() {
			if dev.Joined {
				continue
			}
			ieee, _ := coordinator.ParseIEEE(dev.IEEE)
			// Joining opens when Zigbee2MQTT's permit join reaches the coordinator.
			for err := emu.Join(ieee); err != nil; err = emu.Join(ieee) {
				select {
				case <-ctx.Done():
					return
				case <-time.After(200 * time.Millisecond):
				}
			}
			fmt.Fprintf(stderr, "sandbox: %s (%s) joined\n", dev.IEEE, dev.Model)
		}
	}()
	return nil
}

// sandboxLines reads the messages the simulator plays: the built-in demo
// network, or the -fixture argument (a fixture directory or its
// input.jsonl). dir is the fixture's directory, "" for the built-in one.
func sandboxLines(path string) (lines []replay.Line, dir string, err error) {
	if path == "" {
		tmp, err := os.CreateTemp("", "sandbox-*.jsonl")
		if err != nil {
			return nil, "", err
		}
		defer os.Remove(tmp.Name())
		if _, err := tmp.Write(sandboxFixture); err != nil {
			return nil, "", err
		}
		tmp.Close()
		lines, err := replay.ReadLines(tmp.Name())
		return lines, "", err
	}
	dir = filepath.Dir(path)
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		dir, path = path, filepath.Join(path, "input.jsonl")
	}
	lines, err = replay.ReadLines(path)
	return lines, dir, err
}

// startEmbeddedBroker runs an in-process MQTT broker; it listens on addr,
// or on a free loopback port when addr is taken.
func startEmbeddedBroker(addr string) (string, func(), error) {
	ln, err := listenOrFree(addr)
	if err != nil {
		return "", nil, err
	}
	addr = ln.Addr().String()
	ln.Close()
	srv := mqtt.New(&mqtt.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return "", nil, err
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "sandbox", Address: addr})); err != nil {
		return "", nil, fmt.Errorf("sandbox broker: %w", err)
	}
	go func() { _ = srv.Serve() }()
	for i := 0; i < 50; i++ {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr, func() { _ = srv.Close() }, nil
}

// listenOrFree listens on addr, or on a free loopback port when addr is
// taken.
func listenOrFree(addr string) (net.Listener, error) {
	if ln, err := net.Listen("tcp", addr); err == nil {
		return ln, nil
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

// watchTraffic prints every IoT2MQTT publication, one line each.
func watchTraffic(ctx context.Context, host string, w io.Writer) error {
	var mu sync.Mutex
	cli, err := transport.Dial(ctx, &url.URL{Scheme: "mqtt", Host: host}, "sandbox-watch", "", "", func(p transport.Message) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "%s  %s  %s\n", time.Now().Format("15:04:05.000"), p.Topic, p.Payload)
	})
	if err != nil {
		return fmt.Errorf("sandbox watcher: %w", err)
	}
	return cli.Subscribe(ctx, transport.Filter{Topic: "IoT2mqtt/#", QoS: 0})
}

// simulator plays a fixture's Zigbee2MQTT messages and answers set requests
// with the state echo a real device gives.
type simulator struct {
	cli     *transport.Client
	ready   chan struct{} // closed when the translator reports online
	once    sync.Once
	mu      sync.Mutex
	states  map[string][]byte // friendly name → last state
	ieees   []string
	devices []mapping.Device // from the fixture's bridge/devices
	base    string
}

func startSimulator(ctx context.Context, host string, lines []replay.Line) (*simulator, error) {
	s := &simulator{states: map[string][]byte{}, base: "zigbee2mqtt", ready: make(chan struct{})}
	for _, l := range lines {
		if strings.HasSuffix(l.Topic, "/bridge/devices") {
			gjson.ParseBytes(l.Payload).ForEach(func(_, v gjson.Result) bool {
				if v.Get("type").String() != "Coordinator" {
					s.ieees = append(s.ieees, v.Get("ieee_address").String())
					s.devices = append(s.devices, mapping.ParseDevice(v))
				}
				return true
			})
		}
	}
	cli, err := transport.Dial(ctx, &url.URL{Scheme: "mqtt", Host: host}, "sandbox-zigbee2mqtt", "", "", s.onMessage)
	if err != nil {
		return nil, fmt.Errorf("sandbox zigbee2mqtt: %w", err)
	}
	s.cli = cli
	if err := cli.Subscribe(ctx, transport.Filter{Topic: s.base + "/#", QoS: 1, NoLocal: true}, transport.Filter{Topic: sandboxStatus, QoS: 1}); err != nil {
		return nil, err
	}
	go s.play(ctx, lines)
	return s, nil
}

func (s *simulator) deviceIEEEs() []string {
	out := append([]string(nil), s.ieees...)
	sort.Strings(out)
	return out
}

func (s *simulator) close() { _ = s.cli.Close() }

func (s *simulator) publish(topic string, payload []byte, retain bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.cli.Publish(ctx, transport.Message{Topic: topic, Payload: payload, QoS: 1, Retain: retain})
}

// suggestCommand picks a device of the fixture and a command it can take
// under the loaded rules: a toggle for a switchable device, else the first
// settable property with a value from its expose.
func suggestCommand(rules *mapping.Set, devices []mapping.Device) (ieee, values string, ok bool) {
	var fallback string
	var fallbackIEEE string
	for i := range devices {
		d := &devices[i]
		for _, b := range rules.Plan(d).Rules {
			if !b.Writable || !b.Rule.CanWrite() || b.Prop == nil || b.Prop.Endpoint != "" {
				continue
			}
			switch {
			case b.Prop.Type == "binary" && b.Prop.Name == "state" && (b.Prop.Parent == "light" || b.Prop.Parent == "switch"):
				if _, err := b.Rule.Write("toggle"); err == nil {
					return d.IEEE, fmt.Sprintf(`{%q:"toggle"}`, b.To), true
				}
			case fallback == "" && b.Prop.Type == "numeric" && b.Prop.Min != nil && b.Prop.Max != nil:
				if v, err := b.Rule.Read.Read((*b.Prop.Min + *b.Prop.Max) / 2); err == nil {
					out, _ := json.Marshal(map[string]any{b.To: v})
					fallback, fallbackIEEE = string(out), d.IEEE
				}
			}
		}
	}
	return fallbackIEEE, fallback, fallback != ""
}

// sandboxStatus is the translator's status topic in the sandbox.
const sandboxStatus = "IoT2mqtt/v1/instances/sandbox/status"

// play publishes the fixture's Zigbee2MQTT messages at their times:
// retained ones at once, the rest once the translator is online (a real
// network keeps talking; a replayed one must not talk to nobody).
func (s *simulator) play(ctx context.Context, lines []replay.Line) {
	var live []replay.Line
	for _, l := range lines {
		if l.Tick || !strings.HasPrefix(l.Topic, s.base+"/") {
			continue
		}
		if l.Retain {
			s.record(l)
			s.publish(l.Topic, l.Bytes(), true)
			continue
		}
		live = append(live, l)
	}
	select {
	case <-ctx.Done():
		return
	case <-s.ready:
	}
	start := time.Now()
	for _, l := range live {
		if d := time.Until(start.Add(time.Duration(l.T * float64(time.Second)))); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		}
		s.record(l)
		s.publish(l.Topic, l.Bytes(), l.Retain)
	}
}

// record keeps the last state of each device for set echoes.
func (s *simulator) record(l replay.Line) {
	name := strings.TrimPrefix(l.Topic, s.base+"/")
	if strings.HasPrefix(name, "bridge/") || strings.HasSuffix(name, "/availability") || l.Payload == nil {
		return
	}
	s.mu.Lock()
	s.states[name] = merge(s.states[name], l.Payload)
	s.mu.Unlock()
}

// onMessage answers `<name>/set` with a state echo and bridge requests
// with an ok response.
func (s *simulator) onMessage(p transport.Message) {
	if p.Topic == sandboxStatus {
		if string(p.Payload) == "online" {
			s.once.Do(func() { close(s.ready) })
		}
		return
	}
	rest := strings.TrimPrefix(p.Topic, s.base+"/")
	if req, ok := strings.CutPrefix(rest, "bridge/request/"); ok {
		resp := []byte(`{"status":"ok","data":{}}`)
		if tx := gjson.GetBytes(p.Payload, "transaction"); tx.Exists() {
			resp, _ = sjson.SetBytes(resp, "transaction", tx.Value())
		}
		go s.publish(s.base+"/bridge/response/"+req, resp, false)
		return
	}
	name, ok := strings.CutSuffix(rest, "/set")
	if !ok {
		return
	}
	s.mu.Lock()
	prev, known := s.states[name]
	if !known {
		s.mu.Unlock()
		return
	}
	set := gjson.ParseBytes(p.Payload)
	echo := []byte(prev)
	set.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "transition", "effect":
			return true
		case "state":
			if strings.EqualFold(v.String(), "toggle") {
				next := "ON"
				if gjson.GetBytes(prev, "state").String() == "ON" {
					next = "OFF"
				}
				echo, _ = sjson.SetBytes(echo, "state", next)
				return true
			}
		}
		echo, _ = sjson.SetRawBytes(echo, k.Str, []byte(v.Raw))
		return true
	})
	s.states[name] = echo
	s.mu.Unlock()
	go s.publish(p.Topic[:len(p.Topic)-len("/set")], echo, false)
}

func merge(prev []byte, next json.RawMessage) []byte {
	if prev == nil {
		return append([]byte(nil), next...)
	}
	out := append([]byte(nil), prev...)
	gjson.ParseBytes(next).ForEach(func(k, v gjson.Result) bool {
		out, _ = sjson.SetRawBytes(out, k.Str, []byte(v.Raw))
		return true
	})
	return out
}

// sandboxLogLevel is LOG_LEVEL when set, else WARNING: the sandbox shows
// the traffic, and its log only what needs attention.
func sandboxLogLevel() string {
	if l := os.Getenv("LOG_LEVEL"); l != "" {
		return strings.ToUpper(l)
	}
	return "WARNING"
}
