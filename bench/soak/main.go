// Command soak runs the translator against its own mosquitto and a simulated Zigbee2MQTT for a long
// time while injecting faults (renames, leaves/joins, availability flaps, broker restarts), then checks
// that every device's last state envelope carries the last counter it was sent, that no retained state
// is left for devices that left, and that RSS did not grow. See run.sh.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/iot2mqtt/zigbee2mqtt-translator/bench/internal/benchmqtt"
)

const prefix = "IoT2mqtt/v1/instances/soak/"

type device struct {
	IEEE, Name string
	idx        int
	lastSent   int64 // -1: never sent
}

var (
	mu        sync.Mutex
	lastRecv  = map[string]int64{} // ieee -> counter of last state envelope seen (-1 = cleared)
	received  int64
	regress   int64 // live envelope with a counter lower than one already seen
	badID     int64
	evLog     io.Writer
	startTime = time.Now()
)

func logEv(format string, a ...any) {
	fmt.Fprintf(evLog, "%8.1fs "+format+"\n", append([]any{time.Since(startTime).Seconds()}, a...)...)
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
}

func freePort() int {
	port, err := benchmqtt.FreePort()
	must(err)
	return port
}

func startBroker(conf string, port int) *exec.Cmd {
	cmd, err := benchmqtt.StartBroker(conf, port)
	must(err)
	return cmd
}

func connect(port int, id string, onMsg func(paho.PublishReceived) (bool, error), onLost func()) *paho.Client {
	c, err := benchmqtt.Connect(port, id, onMsg, onLost)
	must(err)
	return c
}

// onEnvelope records state envelopes. The subscription does not use RetainAsPublished, so retain=true
// marks a replay on (re)subscribe rather than a live publication, which is excluded from the regression check.
func onEnvelope(pr paho.PublishReceived) (bool, error) {
	p := pr.Packet
	rest, ok := strings.CutPrefix(p.Topic, prefix+"devices/")
	if !ok || !strings.HasSuffix(rest, "/state") || strings.Count(rest, "/") != 1 {
		return true, nil
	}
	ieee := strings.TrimSuffix(rest, "/state")
	mu.Lock()
	defer mu.Unlock()
	received++
	if len(p.Payload) == 0 {
		lastRecv[ieee] = -1
		return true, nil
	}
	var env struct {
		DeviceID string `json:"device_id"`
		State    struct {
			Counter *int64 `json:"counter"`
		} `json:"state"`
	}
	if json.Unmarshal(p.Payload, &env) != nil || env.DeviceID != ieee {
		badID++
	}
	if env.State.Counter != nil {
		if prev, ok := lastRecv[ieee]; ok && *env.State.Counter < prev && !p.Retain {
			regress++
		}
		lastRecv[ieee] = *env.State.Counter
	}
	return true, nil
}

// collectRetained subscribes with a fresh client and returns, per device id, the retained topics seen in wait.
func collectRetained(port int, wait time.Duration, topics ...string) map[string][]string {
	var gmu sync.Mutex
	retained := map[string][]string{}
	gc := connect(port, fmt.Sprintf("soak-retained-%d", time.Now().UnixNano()), func(pr paho.PublishReceived) (bool, error) {
		rest, _ := strings.CutPrefix(pr.Packet.Topic, prefix+"devices/")
		if pr.Packet.Retain && len(pr.Packet.Payload) > 0 {
			gmu.Lock()
			ieee := strings.SplitN(rest, "/", 2)[0]
			retained[ieee] = append(retained[ieee], pr.Packet.Topic)
			gmu.Unlock()
		}
		return true, nil
	}, nil)
	must(benchmqtt.Subscribe(gc, 1, topics...))
	time.Sleep(wait)
	gc.Disconnect(&paho.Disconnect{})
	gmu.Lock()
	defer gmu.Unlock()
	return retained
}

func rssKB(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// scrape reads the daemon's /metrics as series → value; nil when the
// daemon does not answer.
func scrape(addr string) map[string]string {
	cl := http.Client{Timeout: 2 * time.Second}
	r, err := cl.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil
	}
	defer r.Body.Close()
	m := map[string]string{}
	for sc := bufio.NewScanner(r.Body); sc.Scan(); {
		if l := sc.Text(); !strings.HasPrefix(l, "#") {
			if i := strings.LastIndexByte(l, ' '); i > 0 {
				m[l[:i]] = l[i+1:]
			}
		}
	}
	return m
}

// statusSeries are the series the status lines and the summary show.
var statusSeries = []string{"translator_inbound_queue", "translator_inbound_queue_bytes", "translator_inbound_dropped_total",
	"go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_sys_bytes"}

func summary(m map[string]string) string {
	if m == nil {
		return "metrics: no answer"
	}
	out := make([]string, 0, len(statusSeries))
	for _, name := range statusSeries {
		out = append(out, name+" "+m[name])
	}
	return strings.Join(out, "; ")
}

// gauge is one series as a number, -1 when absent.
func gauge(m map[string]string, name string) int64 {
	v, ok := m[name]
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

func main() {
	duration := flag.Duration("duration", 30*time.Minute, "how long to publish state")
	rate := flag.Float64("rate", 500, "state messages per second, all devices together")
	nDev := flag.Int("devices", 1000, "devices in bridge/devices")
	faultMean := flag.Duration("fault-mean", 8*time.Second, "mean interval between injected faults")
	translator := flag.String("translator", "", "translator binary (required)")
	dir := flag.String("dir", "", "work directory (default: a new temporary one)")
	kindsFlag := flag.String("kinds", "rename,rename,rename,leave,leave,join,join,availability,availability,availability,broker_restart", "fault kinds drawn uniformly (repeat one to weight it)")
	seed := flag.Int64("seed", time.Now().UnixNano(), "random seed")
	flag.Parse()
	if *translator == "" {
		must(fmt.Errorf("-translator is required"))
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "soak-")
		must(err)
		*dir = d
	}
	rng := rand.New(rand.NewSource(*seed))
	lf, err := os.Create(filepath.Join(*dir, "events.log"))
	must(err)
	evLog = io.MultiWriter(os.Stdout, lf)
	logEv("seed=%d dir=%s duration=%s rate=%.0f devices=%d", *seed, *dir, *duration, *rate, *nDev)

	port, httpPort := freePort(), freePort()
	conf := filepath.Join(*dir, "mosquitto.conf")
	must(os.WriteFile(conf, []byte(fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n", port)), 0o644))
	broker := startBroker(conf, port)
	defer func() { broker.Process.Kill(); broker.Wait() }()

	must(os.MkdirAll(filepath.Join(*dir, "instances"), 0o755))
	must(os.WriteFile(filepath.Join(*dir, "instances", "soak.json"), []byte(`{"instance_id":"soak","connection":{},"devices":[]}`), 0o644))
	tlog, err := os.Create(filepath.Join(*dir, "translator.log"))
	must(err)
	tr := exec.Command(*translator)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", httpPort)
	tr.Env = append(os.Environ(), "INSTANCE_NAME=soak", "IOT2MQTT_PATH="+*dir, "MQTT_HOST=127.0.0.1",
		fmt.Sprintf("MQTT_PORT=%d", port), "LOG_LEVEL=WARNING", "HTTP_ADDR="+httpAddr)
	tr.Stdout, tr.Stderr = tlog, tlog
	must(tr.Start())
	trExit := make(chan error, 1)
	go func() { trExit <- tr.Wait() }()
	defer tr.Process.Kill()

	// Verifier: reconnects on its own after a broker restart.
	var subConnect func()
	subConnect = func() {
		c := connect(port, "soak-verifier", onEnvelope, func() { time.Sleep(200 * time.Millisecond); subConnect() })
		if err := benchmqtt.Subscribe(c, 1, prefix+"devices/+/state"); err != nil {
			logEv("verifier subscribe: %v", err)
		}
	}
	subConnect()

	// Simulated Zigbee2MQTT. Everything is published from this goroutine, in order.
	var pub *paho.Client
	pubConnect := func() { pub = connect(port, "soak-z2m", nil, nil) }
	pubConnect()
	publish := func(topic string, payload []byte, retain bool) bool {
		for i := 0; i < 3; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := pub.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Retain: retain, Payload: payload})
			cancel()
			if err == nil {
				return true
			}
			logEv("publish %s: %v (reconnecting)", topic, err)
			pubConnect()
		}
		return false
	}
	devs := make([]*device, 0, *nDev)
	nextIdx := 0
	newDev := func() *device {
		d := &device{IEEE: fmt.Sprintf("0x00158d0000%06x", nextIdx), Name: fmt.Sprintf("dev_%d", nextIdx), idx: nextIdx, lastSent: -1}
		nextIdx++
		return d
	}
	for i := 0; i < *nDev; i++ {
		devs = append(devs, newDev())
	}
	left := map[string]*device{}
	avail := map[string]string{} // name -> retained availability we published
	exposes := json.RawMessage(`[{"type":"numeric","name":"temperature","property":"temperature","access":1,"unit":"°C"},{"type":"numeric","name":"counter","property":"counter","access":1}]`)
	pubDevices := func() {
		list := make([]map[string]any, len(devs))
		for i, d := range devs {
			list[i] = map[string]any{"ieee_address": d.IEEE, "type": "Router", "friendly_name": d.Name, "supported": true, "disabled": false,
				"definition": map[string]any{"model": "TEST", "vendor": "Soak", "exposes": exposes}}
		}
		b, _ := json.Marshal(list)
		publish("zigbee2mqtt/bridge/devices", b, true)
	}
	pubBridge := func() {
		publish("zigbee2mqtt/bridge/state", []byte(`{"state":"online"}`), true)
		pubDevices()
		for name, st := range avail {
			publish("zigbee2mqtt/"+name+"/availability", []byte(`{"state":"`+st+`"}`), true)
		}
	}
	pubBridge()
	time.Sleep(2 * time.Second)

	faults := map[string]int{}
	var sent int64
	var rss []int64 // one sample every 10 s
	var rss1m int64
	goroutines1m := int64(-1)
	kinds := strings.Split(*kindsFlag, ",")
	faultEnd := *duration - 30*time.Second
	nextFault := 30*time.Second + time.Duration(rng.ExpFloat64()*float64(*faultMean))
	begin := time.Now()
	base, baseSent := begin, int64(0) // rate schedule; reset after pauses
	lastSample := time.Time{}
	renames := 0
	var restartMissing []int      // per broker restart: devices still without retained state after 30 s
	var restartRecovery []float64 // per broker restart: seconds from the kill until every device had retained state
	for {
		el := time.Since(begin)
		if el >= *duration {
			break
		}
		select {
		case err := <-trExit:
			must(fmt.Errorf("translator exited: %v (see %s)", err, tlog.Name()))
		default:
		}
		if time.Since(lastSample) >= 10*time.Second {
			lastSample = time.Now()
			r, m := rssKB(tr.Process.Pid), scrape(httpAddr)
			rss = append(rss, r)
			if rss1m == 0 && el >= time.Minute {
				rss1m, goroutines1m = r, gauge(m, "go_goroutines")
			}
			mu.Lock()
			logEv("status sent=%d envelopes=%d regressions=%d rss=%dkB faults=%v %s", sent, received, regress, r, faults, summary(m))
			mu.Unlock()
		}
		if el >= nextFault && el < faultEnd {
			nextFault = el + time.Duration(rng.ExpFloat64()*float64(*faultMean))
			kind := kinds[rng.Intn(len(kinds))]
			switch kind {
			case "rename":
				d := devs[rng.Intn(len(devs))]
				old := d.Name
				renames++
				d.Name = fmt.Sprintf("dev_%d_r%d", d.idx, renames)
				if st, ok := avail[old]; ok { // Zigbee2MQTT clears the old availability topic
					publish("zigbee2mqtt/"+old+"/availability", nil, true)
					delete(avail, old)
					avail[d.Name] = st
					publish("zigbee2mqtt/"+d.Name+"/availability", []byte(`{"state":"`+st+`"}`), true)
				}
				pubDevices()
				logEv("rename %s %s -> %s", d.IEEE, old, d.Name)
			case "leave":
				i := rng.Intn(len(devs))
				d := devs[i]
				devs = append(devs[:i], devs[i+1:]...)
				left[d.IEEE] = d
				if _, ok := avail[d.Name]; ok {
					publish("zigbee2mqtt/"+d.Name+"/availability", nil, true)
					delete(avail, d.Name)
				}
				pubDevices()
				logEv("leave %s %s (last counter %d)", d.IEEE, d.Name, d.lastSent)
			case "join":
				d := newDev()
				devs = append(devs, d)
				pubDevices()
				logEv("join %s %s", d.IEEE, d.Name)
			case "availability":
				d := devs[rng.Intn(len(devs))]
				st := "offline"
				if avail[d.Name] == "offline" {
					st = "online"
				}
				avail[d.Name] = st
				publish("zigbee2mqtt/"+d.Name+"/availability", []byte(`{"state":"`+st+`"}`), true)
				logEv("availability %s %s %s", d.IEEE, d.Name, st)
			case "broker_restart":
				t0 := time.Now()
				broker.Process.Kill()
				broker.Wait()
				pub.Disconnect(&paho.Disconnect{})
				time.Sleep(time.Duration(500+rng.Intn(2500)) * time.Millisecond)
				broker = startBroker(conf, port)
				pubConnect()
				pubBridge()
				// The translator must republish every retained state envelope. Publishing pauses
				// while fresh subscribers count devices that were sent state but have none, until
				// none is missing or 30 s have passed.
				var miss, have int
				for {
					ret := collectRetained(port, time.Second, prefix+"devices/+/state")
					miss, have = 0, len(ret)
					for _, d := range devs {
						if d.lastSent >= 0 && len(ret[d.IEEE]) == 0 {
							miss++
						}
					}
					if miss == 0 || time.Since(t0) > 30*time.Second {
						break
					}
				}
				restartMissing = append(restartMissing, miss)
				restartRecovery = append(restartRecovery, time.Since(t0).Round(100*time.Millisecond).Seconds())
				logEv("broker_restart: all retained state back %s after the kill (%d of %d devices, %d missing)",
					time.Since(t0).Round(time.Millisecond), have, len(devs), miss)
				base, baseSent = time.Now(), sent
			}
			faults[kind]++
			continue
		}
		due := baseSent + int64(time.Since(base).Seconds()**rate)
		if sent >= due {
			time.Sleep(time.Millisecond)
			continue
		}
		for ; sent < due; sent++ {
			d := devs[rng.Intn(len(devs))]
			d.lastSent = sent
			publish("zigbee2mqtt/"+d.Name, []byte(fmt.Sprintf(`{"temperature":%.2f,"counter":%d}`, 15+rng.Float64()*10, sent)), false)
		}
	}
	logEv("publishing stopped; quiet period")

	// Quiet period: wait until every current device matches, at most 30 s (at least 5 s).
	mismatches := func() (n int, ex []string) {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range devs {
			if got, ok := lastRecv[d.IEEE]; d.lastSent >= 0 && (!ok || got != d.lastSent) {
				n++
				if len(ex) < 10 {
					ex = append(ex, fmt.Sprintf("%s(%s) sent=%d got=%d seen=%t", d.IEEE, d.Name, d.lastSent, got, ok))
				}
			}
		}
		return
	}
	time.Sleep(5 * time.Second)
	for t := time.Now(); time.Since(t) < 25*time.Second; time.Sleep(time.Second) {
		if n, _ := mismatches(); n == 0 {
			break
		}
	}
	nMis, exMis := mismatches()

	// Ghost check: a fresh subscriber collects retained messages for 2 s.
	retained := collectRetained(port, 2*time.Second, prefix+"devices/+/state", prefix+"devices/+/state/+", prefix+"devices/+/availability")
	missingRetained := 0
	for _, d := range devs {
		if d.lastSent >= 0 && len(retained[d.IEEE]) == 0 {
			missingRetained++
		}
	}
	current := map[string]bool{}
	for _, d := range devs {
		current[d.IEEE] = true
	}
	ghosts, ghostOther := 0, 0
	var exGhost []string
	for ieee, topics := range retained {
		if current[ieee] {
			continue
		}
		for _, t := range topics {
			if strings.HasSuffix(t, "/state") {
				ghosts++
				if len(exGhost) < 10 {
					exGhost = append(exGhost, t)
				}
			} else {
				ghostOther++
			}
		}
	}

	r := rssKB(tr.Process.Pid)
	rss = append(rss, r)
	maxRSS := int64(0)
	for _, v := range rss {
		maxRSS = max(maxRSS, v)
	}
	if rss1m == 0 {
		rss1m = rss[0]
	}
	growth := float64(r-rss1m) / float64(rss1m) * 100
	final := scrape(httpAddr)
	goroutinesEnd := gauge(final, "go_goroutines")
	mu.Lock()
	sum := map[string]any{
		"duration": duration.String(), "rate": *rate, "devices_initial": *nDev, "devices_final": len(devs), "seed": *seed,
		"messages_sent": sent, "envelopes_received": received, "faults": faults, "mismatches": nMis,
		"mismatch_examples": exMis, "ghost_state_topics": ghosts, "ghost_examples": exGhost,
		"ghost_other_topics": ghostOther, "missing_retained_at_end": missingRetained, "missing_retained_after_restarts": restartMissing, "restart_recovery_seconds": restartRecovery, "live_counter_regressions": regress, "bad_envelopes": badID,
		"rss_kb_first": rss[0], "rss_kb_1m": rss1m, "rss_kb_last": r, "rss_kb_max": maxRSS,
		"rss_growth_pct_from_1m": growth, "goroutines_1m": goroutines1m, "goroutines_end": goroutinesEnd, "metrics": summary(final), "workdir": *dir,
	}
	mu.Unlock()
	b, _ := json.MarshalIndent(sum, "", "  ")
	fmt.Println(string(b))
	fmt.Printf("\nSOAK %s at %.0f msg/s, %d devices (%d at the end): sent %d, envelopes %d, faults %v\n",
		*duration, *rate, *nDev, len(devs), sent, received, faults)
	fmt.Printf("mismatches %d, ghost state topics %d (other ghost topics %d), live counter regressions %d, bad envelopes %d\n",
		nMis, ghosts, ghostOther, regress, badID)
	fmt.Printf("current devices without retained state: %d at the end, 30 s after each broker restart %v\n", missingRetained, restartMissing)
	fmt.Printf("seconds from each broker kill until every device had retained state again: %v\n", restartRecovery)
	fmt.Printf("RSS first %d kB, at 1 min %d kB, last %d kB, max %d kB (growth from 1 min %+.1f%%)\n", rss[0], rss1m, r, maxRSS, growth)
	fmt.Printf("goroutines at 1 min %d, at the end %d\n", goroutines1m, goroutinesEnd)
	fmt.Printf("event log: %s, translator log: %s\n", lf.Name(), tlog.Name())
	lostAfterRestart := 0
	for _, m := range restartMissing {
		lostAfterRestart += m
	}
	if nMis > 0 || ghosts > 0 || growth > 50 || lostAfterRestart > 0 || (goroutines1m >= 0 && goroutinesEnd > goroutines1m+2) {
		fmt.Println("RESULT: FAIL")
		os.Exit(1)
	}
	fmt.Println("RESULT: PASS")
}
