// Command virtual measures what the translator costs next to the Zigbee2MQTT it translates for, on
// the virtual network: the emulated coordinator with N temperature sensors, the pinned Zigbee2MQTT,
// and the translator in embedded mode, as in the container. At each report rate it counts the CPU
// time of both processes per Zigbee message and the latency from Zigbee2MQTT's publication to the
// IoT2MQTT envelope, both seen by one client of the same broker. With -peer, a reference translator
// (../shared/bench/reftranslator) reads the same Zigbee2MQTT traffic and is measured the same way, in
// the same run. See virtual.sh.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/iot2mqtt/zigbee2mqtt-translator/bench/internal/benchmqtt"
	"github.com/iot2mqtt/zigbee2mqtt-translator/coordinator"
)

const prefix = "IoT2mqtt/v1/instances/bench/"

// peerPrefix is where the peer translator publishes its envelopes.
const peerPrefix = "IoT2mqtt/v1/instances/ref/"

// config is one run of the benchmark, from the command line.
type config struct {
	translator string // the translator binary
	install    string // the Zigbee2MQTT install (Z2M_INSTALL_DIR)
	peer       string // the peer translator binary; empty: none
	devices    int
	rates      string // report rates per second, comma-separated
	seconds    int    // measurement window per rate
	variant    string // label of this run
	extra      string // extra instance JSON fields
	brokerConf string // extra mosquitto.conf lines
	logFile    string // where to copy the translator's log; empty: nowhere
}

func main() {
	var c config
	flag.StringVar(&c.translator, "translator", "", "the translator binary")
	flag.StringVar(&c.install, "z2m", "", "the Zigbee2MQTT install (Z2M_INSTALL_DIR)")
	flag.IntVar(&c.devices, "devices", 200, "simulated temperature sensors")
	flag.StringVar(&c.rates, "rates", "100,500", "report rates per second, comma-separated")
	flag.IntVar(&c.seconds, "seconds", 20, "measurement window per rate")
	flag.StringVar(&c.variant, "variant", "default", "label of this run")
	flag.StringVar(&c.extra, "instance", "", `extra instance JSON fields, e.g. "z2m_log_level":"info"`)
	flag.StringVar(&c.brokerConf, "broker-conf", "", `extra mosquitto.conf lines, e.g. "set_tcp_nodelay true"`)
	flag.StringVar(&c.logFile, "log", "", "write the translator's log to this file")
	flag.StringVar(&c.peer, "peer", "", "a peer translator run beside it on the same traffic: ../shared/bench/reftranslator's binary (go-ref)")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "virtual:", err)
		os.Exit(1)
	}
}

// sample is one report's way: published by Zigbee2MQTT, translated by the
// translator and by the peer.
type sample struct{ z2m, envelope, peer time.Time }

type observer struct {
	mu      sync.Mutex
	samples map[int]*sample // by the report's value
	devices int             // devices in the last devices_list
	online  bool
	keys    int // state/{key} publications seen
}

var tempRe = regexp.MustCompile(`"temperature":(-?[0-9.]+)`)

// key is the report number a temperature stands for (value/100 °C).
func key(payload []byte) (int, bool) {
	m := tempRe.FindSubmatch(payload)
	if m == nil {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return 0, false
	}
	return int(math.Round(f * 100)), true
}

func (o *observer) onMessage(pr paho.PublishReceived) (bool, error) {
	now := time.Now()
	p := pr.Packet
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case p.Topic == prefix+"meta/info":
		o.online = strings.Contains(string(p.Payload), `"bridge_online":true`)
	case p.Topic == prefix+"meta/devices_list":
		o.devices = strings.Count(string(p.Payload), `"model":"SNZB-02"`)
	case strings.HasPrefix(p.Topic, "zigbee2mqtt/0x") && !p.Retain:
		if k, ok := key(p.Payload); ok && o.samples[k] != nil && o.samples[k].z2m.IsZero() {
			o.samples[k].z2m = now
		}
	case strings.HasPrefix(p.Topic, prefix+"devices/") && strings.HasSuffix(p.Topic, "/state") && !p.Retain:
		if k, ok := key(p.Payload); ok && o.samples[k] != nil && o.samples[k].envelope.IsZero() {
			o.samples[k].envelope = now
		}
	case strings.HasPrefix(p.Topic, prefix+"devices/") && strings.Contains(p.Topic, "/state/") && !p.Retain:
		o.keys++
	case strings.HasPrefix(p.Topic, peerPrefix+"devices/") && !p.Retain:
		if k, ok := key(p.Payload); ok && o.samples[k] != nil && o.samples[k].peer.IsZero() {
			o.samples[k].peer = now
		}
	}
	return true, nil
}

func run(c config) error {
	n, variant, seconds := c.devices, c.variant, c.seconds
	work, err := os.MkdirTemp("", "bench-virtual")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	port, err := benchmqtt.FreePort()
	if err != nil {
		return err
	}
	conf := filepath.Join(work, "mosquitto.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "listener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n%s\n", port, c.brokerConf), 0o644); err != nil {
		return err
	}
	broker, err := benchmqtt.StartBroker(conf, port)
	if err != nil {
		return err
	}
	defer broker.Process.Kill()

	emu, err := newEmulator(n, filepath.Join(work, "coordinator.json"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := emu.Start(ctx); err != nil {
		return err
	}

	home := filepath.Join(work, "app")
	if err := os.MkdirAll(filepath.Join(home, "instances"), 0o755); err != nil {
		return err
	}
	extra := ""
	if c.extra != "" {
		extra = "," + c.extra
	}
	instance := `{"instance_id":"bench","connection":{"serial_port":"tcp://` + emu.Addr() + `","adapter":"zstack","z2m_base_topic":"zigbee2mqtt"` + extra + `}}`
	if err := os.WriteFile(filepath.Join(home, "instances", "bench.json"), []byte(instance), 0o644); err != nil {
		return err
	}
	daemon := exec.Command(c.translator)
	daemon.Env = append(os.Environ(), "INSTANCE_NAME=bench", "IOT2MQTT_PATH="+home, "MQTT_HOST=127.0.0.1",
		"MQTT_PORT="+strconv.Itoa(port), "LOG_LEVEL=INFO", "Z2M_INSTALL_DIR="+c.install)
	stderr, err := daemon.StderrPipe()
	if err != nil {
		return err
	}
	var logs io.Reader = stderr
	if c.logFile != "" {
		f, err := os.Create(c.logFile)
		if err != nil {
			return err
		}
		defer f.Close()
		logs = io.TeeReader(stderr, f)
	}
	daemon.Stdout = io.Discard
	if err := daemon.Start(); err != nil {
		return err
	}
	defer func() { daemon.Process.Signal(os.Interrupt); daemon.Wait() }()
	z2mPID := make(chan int, 1)
	var logLines, logBytes, configured int64
	var logMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(logs)
		sc.Buffer(nil, 1<<20)
		pidRe := regexp.MustCompile(`zigbee2mqtt started .*pid=(\d+)`)
		for sc.Scan() {
			logMu.Lock()
			logLines++
			logBytes += int64(len(sc.Bytes()) + 1)
			if bytes.Contains(sc.Bytes(), []byte("Successfully configured")) {
				configured++
			}
			logMu.Unlock()
			if m := pidRe.FindStringSubmatch(sc.Text()); m != nil {
				pid, _ := strconv.Atoi(m[1])
				z2mPID <- pid
			}
		}
	}()

	obs := &observer{samples: map[int]*sample{}}
	cli, err := benchmqtt.Connect(port, "bench-observer", obs.onMessage, nil)
	if err != nil {
		return err
	}
	defer cli.Disconnect(&paho.Disconnect{})
	if err := benchmqtt.Subscribe(cli, 0, "zigbee2mqtt/+", prefix+"devices/+/state", prefix+"meta/+", prefix+"devices/+/state/+", peerPrefix+"devices/+/state"); err != nil {
		return err
	}
	ppid := 0
	if c.peer != "" {
		cmd, err := startPeer(c.peer, port, emu.Devices(), work)
		if err != nil {
			return err
		}
		defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
		ppid = cmd.Process.Pid
	}
	var zpid int
	select {
	case zpid = <-z2mPID:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("Zigbee2MQTT did not start")
	}
	if !waitFor(120*time.Second, func() bool { obs.mu.Lock(); defer obs.mu.Unlock(); return obs.online }) {
		return fmt.Errorf("the bridge did not come online")
	}
	publish(cli, prefix+"devices/bridge/cmd", `{"id":"pj","values":{"permit_join":254}}`)
	for _, d := range emu.Devices() {
		ieee, _ := coordinator.ParseIEEE(d.IEEE)
		if !waitFor(10*time.Second, func() bool { return emu.Join(ieee) == nil }) {
			return fmt.Errorf("%s could not join", d.IEEE)
		}
	}
	if !waitFor(300*time.Second, func() bool { obs.mu.Lock(); defer obs.mu.Unlock(); return obs.devices == n }) {
		return fmt.Errorf("not all %d devices were recognised", n)
	}
	// Zigbee2MQTT configures each device after its interview; reports that
	// arrive before are not published.
	for _, d := range emu.Devices() {
		ieee, _ := coordinator.ParseIEEE(d.IEEE)
		if !waitFor(300*time.Second, func() bool { return emu.Reporting(ieee, 1, 0x0402, 0x0000) }) {
			return fmt.Errorf("%s was never configured", d.IEEE)
		}
	}
	// Zigbee2MQTT logs "Successfully configured" once all of a device's
	// configure steps are done, after the coordinator saw the reporting
	// configured; the window starts after the last of them.
	if !waitFor(120*time.Second, func() bool { logMu.Lock(); defer logMu.Unlock(); return configured >= int64(n) }) {
		return fmt.Errorf("Zigbee2MQTT logged %d of %d devices configured", configured, n)
	}
	time.Sleep(5 * time.Second)
	tpid := daemon.Process.Pid

	// Report i of a window carries i/100 °C: unique within the window, and
	// below the 100 °C from which Zigbee2MQTT drops a report as implausible.
	const base = 0
	for _, rs := range strings.Split(c.rates, ",") {
		rate, err := strconv.Atoi(strings.TrimSpace(rs))
		if err != nil || rate <= 0 {
			return fmt.Errorf("rate %q", rs)
		}
		total := rate * seconds
		if total > 10000 {
			return fmt.Errorf("%d reports in a window; at most 10000", total)
		}
		first := base
		obs.mu.Lock()
		obs.samples = map[int]*sample{}
		obs.keys = 0
		for k := first; k < first+total; k++ {
			obs.samples[k] = &sample{}
		}
		obs.mu.Unlock()

		logMu.Lock()
		lines0, bytes0 := logLines, logBytes
		logMu.Unlock()
		t0, z0, p0 := cpu(tpid), cpu(zpid), cpu(ppid)
		start := time.Now()
		fmt.Fprintf(os.Stderr, "virtual: %s, %d reports/s for %d s from %s\n", variant, rate, seconds, start.UTC().Format(time.RFC3339))
		devs := emu.Devices()
		for i := 0; i < total; i++ {
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
			ieee, _ := coordinator.ParseIEEE(devs[i%len(devs)].IEEE)
			if err := emu.SetAttribute(ieee, 1, 0x0402, 0x0000, float64(first+i)); err != nil {
				return err
			}
		}
		waitFor(10*time.Second, func() bool {
			obs.mu.Lock()
			defer obs.mu.Unlock()
			for k := first; k < first+total; k++ {
				if s := obs.samples[k]; s.envelope.IsZero() || (ppid != 0 && s.peer.IsZero()) {
					return false
				}
			}
			return true
		})
		time.Sleep(time.Second)
		t1, z1, p1 := cpu(tpid), cpu(zpid), cpu(ppid)
		logMu.Lock()
		lines1, bytes1 := logLines, logBytes
		logMu.Unlock()

		var lat, peerLat []float64
		published, translated := 0, 0
		obs.mu.Lock()
		keys := obs.keys
		for k := first; k < first+total; k++ {
			s := obs.samples[k]
			if !s.z2m.IsZero() {
				published++
			}
			if !s.envelope.IsZero() {
				translated++
			}
			if !s.z2m.IsZero() && !s.envelope.IsZero() {
				lat = append(lat, float64(s.envelope.Sub(s.z2m).Microseconds())/1000)
			}
			if !s.z2m.IsZero() && !s.peer.IsZero() {
				peerLat = append(peerLat, float64(s.peer.Sub(s.z2m).Microseconds())/1000)
			}
		}
		obs.mu.Unlock()
		sort.Float64s(lat)
		sort.Float64s(peerLat)

		zUS := float64(z1-z0) * 1e6 / clockTicks / float64(max(published, 1))
		tUS := float64(t1-t0) * 1e6 / clockTicks / float64(max(published, 1))
		result := map[string]any{
			"variant": variant, "devices": n, "rate": rate, "reports": total, "published": published, "translated": translated,
			"key_topics_per_report": round2(float64(keys) / float64(max(published, 1))),
			"z2m_us_per_msg":        round1(zUS), "translator_us_per_msg": round1(tUS), "ratio_pct": round1(100 * tUS / zUS),
			"p50_ms": round2(pct(lat, 0.50)), "p99_ms": round2(pct(lat, 0.99)),
			"translator_log_lines": lines1 - lines0, "translator_log_bytes": bytes1 - bytes0,
		}
		result["translator_peak_rss_mb"] = peakRSS(tpid)
		result["z2m_peak_rss_mb"] = peakRSS(zpid)
		if ppid != 0 {
			result["peer_peak_rss_mb"] = peakRSS(ppid)
			pUS := float64(p1-p0) * 1e6 / clockTicks / float64(max(published, 1))
			result["peer_translated"] = len(peerLat)
			result["peer_us_per_msg"] = round1(pUS)
			result["peer_ratio_pct"] = round1(100 * pUS / zUS)
			result["peer_p50_ms"] = round2(pct(peerLat, 0.50))
			result["peer_p99_ms"] = round2(pct(peerLat, 0.99))
		}
		out, _ := json.Marshal(result)
		fmt.Println(string(out))
	}
	return nil
}

// startPeer runs the reference translator beside the daemon: it reads the
// same Zigbee2MQTT topics and publishes one QoS 1 retained envelope per
// report under instance "ref". Friendly names are the IEEE addresses, as
// Zigbee2MQTT names a device that nobody renamed.
func startPeer(bin string, port int, devices []coordinator.DeviceInfo, work string) (*exec.Cmd, error) {
	names := map[string]string{}
	for _, d := range devices {
		names[d.IEEE] = d.IEEE
	}
	mapFile := filepath.Join(work, "peer-devices.json")
	data, _ := json.Marshal(names)
	if err := os.WriteFile(mapFile, data, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-broker", fmt.Sprintf("127.0.0.1:%d", port), "-map", mapFile, "-qos", "1",
		"-in-prefix", "zigbee2mqtt", "-instance", "ref", "-retain")
	// The daemon runs with GOMAXPROCS=1 unless told otherwise; the peer gets
	// the same, so neither pays for waking a second thread.
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the peer %s: %w", bin, err)
	}
	return cmd, nil
}

// newEmulator runs the coordinator with n copies of the built-in SONOFF
// SNZB-02 at consecutive addresses.
func newEmulator(n int, state string) (*coordinator.Emulator, error) {
	builtin, err := coordinator.LoadDescriptions(coordinator.Builtin, "devices")
	if err != nil {
		return nil, err
	}
	var sensor coordinator.Description
	for _, d := range builtin {
		if d.Model == "SNZB-02" {
			sensor = d
		}
	}
	descs := make([]coordinator.Description, n)
	for i := range descs {
		descs[i] = sensor
		descs[i].IEEE = fmt.Sprintf("0x00124b00%08x", 0x10000+i)
	}
	return coordinator.New(coordinator.Config{Listen: "127.0.0.1:0", StatePath: state, Devices: descs})
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times on Linux.
const clockTicks = 100

// cpu is the user and system time of a process, in clock ticks.
func cpu(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// peakRSS is a process's peak resident memory so far (VmHWM), in MB.
func peakRSS(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return round1(kb / 1024)
		}
	}
	return 0
}

func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

func round1(f float64) float64 { return float64(int(f*10+0.5)) / 10 }
func round2(f float64) float64 { return float64(int(f*100+0.5)) / 100 }

func waitFor(d time.Duration, ok func() bool) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ok() {
			return true
		}
	}
	return false
}

func publish(c *paho.Client, topic, payload string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)})
}
