//go:build integration

package main_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/mqtttest"
)

// TestDaemon_BrokerDownAtStartup: the daemon keeps retrying with backoff (no
// busy loop), logs clearly, and comes online once the broker is there.
func TestDaemon_BrokerDownAtStartup(t *testing.T) {
	b := mqtttest.StartBroker(t)
	b.Stop()
	p := startTranslator(t, b, minimalInstance)
	time.Sleep(4 * time.Second)
	attempts := strings.Count(p.Output(), "mqtt connect failed; retrying")
	if attempts < 1 || attempts > 6 {
		t.Errorf("%d connection attempts in 4 s; want a few, with backoff", attempts)
	}
	b.Restart()
	w := mqtttest.Connect(t, b.Addr, "watcher")
	w.Subscribe("IoT2mqtt/#")
	w.WaitFor(prefix+"status", payloadIs("online"), 40*time.Second)
}

// TestDaemon_QoS1CommandSurvivesTranslatorRestart: the broker keeps the
// daemon's session, so a command sent while it restarts is delivered, once.
func TestDaemon_QoS1CommandSurvivesTranslatorRestart(t *testing.T) {
	b, _, w, p := setup(t, minimalInstance)
	p.signal(9)
	<-p.done
	w.Publish(lampPrefix+"cmd", `{"id":"while-down","values":{"brightness":100}}`, false)
	p2 := startTranslator(t, b, minimalInstance)
	w.WaitFor("zigbee2mqtt/"+lampName+"/set", payloadIs(`{"brightness":254}`), 20*time.Second)
	time.Sleep(500 * time.Millisecond)
	if n := w.Count("zigbee2mqtt/"+lampName+"/set", nil); n != 1 {
		t.Errorf("command executed %d times, want once", n)
	}
	_ = p2
}

// TestDaemon_WarnsWithoutDeviceList: with no retained bridge/devices (a
// broker restarted without persistence), the daemon says so instead of
// running blind.
func TestDaemon_WarnsWithoutDeviceList(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 15 s device-list watch")
	}
	t.Parallel()
	b := mqtttest.StartBroker(t)
	w := mqtttest.Connect(t, b.Addr, "watcher")
	w.Subscribe("IoT2mqtt/#")
	p := startTranslator(t, b, minimalInstance)
	e := w.WaitFor(prefix+"error", hasField("error_code", "NO_DEVICE_LIST"), 30*time.Second)
	if !strings.Contains(e.Payload, "zigbee2mqtt/bridge/devices") || !p.logged("no device list from zigbee2mqtt yet") {
		t.Errorf("warning does not name the missing topic: %s", e.Payload)
	}
}

// startWithoutDeviceList starts a broker with a fake Zigbee2MQTT whose
// bridge is in bridgeState but whose retained bridge/devices is missing, a
// watcher on the IoT2MQTT tree and the bridge requests, and the translator
// with recover_device_list on.
func startWithoutDeviceList(t *testing.T, bridgeState string) (z2m, w *mqtttest.Client, p *proc) {
	t.Helper()
	b := mqtttest.StartBroker(t)
	z2m = mqtttest.Connect(t, b.Addr, "fake-z2m")
	z2m.Publish("zigbee2mqtt/bridge/state", `{"state":"`+bridgeState+`"}`, true)
	w = mqtttest.Connect(t, b.Addr, "watcher")
	w.Subscribe("IoT2mqtt/#", "zigbee2mqtt/bridge/request/#")
	p = startTranslator(t, b, strings.Replace(minimalInstance, `"devices":[]`, `"devices":[],"recover_device_list":true`, 1))
	return z2m, w, p
}

// TestDaemon_RecoversLostDeviceList: Zigbee2MQTT is online but the retained
// bridge/devices is gone, and it publishes the list only when it starts, so
// the daemon asks it to restart, says so, and translates once the list comes.
func TestDaemon_RecoversLostDeviceList(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 15 s device-list watch")
	}
	t.Parallel()
	z2m, w, p := startWithoutDeviceList(t, "online")

	req := w.WaitFor("zigbee2mqtt/bridge/request/restart", nil, 30*time.Second)
	if req.QoS != 1 || req.Retain || !strings.HasPrefix(jsonField(t, req.Payload, "transaction").(string), "translator-recover-device-list-") {
		t.Errorf("restart request qos=%d retain=%v payload=%s, want QoS 1, not retained, with a transaction", req.QoS, req.Retain, req.Payload)
	}
	e := w.WaitFor(prefix+"error", hasField("error_code", "NO_DEVICE_LIST"), 5*time.Second)
	if !strings.Contains(e.Payload, "zigbee2mqtt/bridge/request/restart") {
		t.Errorf("NO_DEVICE_LIST does not say a restart was requested: %s", e.Payload)
	}
	if !p.logged("requesting a zigbee2mqtt restart") {
		t.Errorf("log does not say a restart was requested:\n%s", p.Output())
	}

	// Zigbee2MQTT restarts and publishes its devices; the light appears.
	z2m.Publish("zigbee2mqtt/bridge/devices", readFile(t, "../../translate/testdata/light_devices.json"), true)
	z2m.Publish("zigbee2mqtt/"+lampName, `{"state":"ON","brightness":254}`, false)
	w.WaitFor(lampPrefix+"state", hasField("state.power", true), 5*time.Second)
	if n := w.Count("zigbee2mqtt/bridge/request/restart", nil); n != 1 {
		t.Errorf("restart requested %d times, want once", n)
	}
}

// TestDaemon_FloodDoesNotStarveOthers: one device floods 100k messages
// against a 1 MiB inbound budget. A quiet device's message, sent after the
// flood, is translated before the flood's backlog is worked off; the flood
// device sheds its oldest messages (counted in /metrics), ends on its newest
// state, and memory stays bounded.
func TestDaemon_FloodDoesNotStarveOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes 100k messages")
	}
	b, z2m := brokerWithDevices(t, manyLamps(t, 1)) // the test lamp floods, "lamp 0" is quiet
	const quietIEEE, quietName = "0x000d6ffffe000000", "lamp 0"
	w := mqtttest.Connect(t, b.Addr, "watcher")
	w.Subscribe(lampPrefix+"state", prefix+"devices/"+quietIEEE+"/state")
	addr := freeAddr(t)
	p := startTranslator(t, b, minimalInstance, "INBOUND_BUFFER_MB=1", "LOG_LEVEL=WARNING", "HTTP_ADDR="+addr)
	waitMetric(t, addr, "translator_inbound_queue", func(float64) bool { return true })

	const n = 100000
	// Only the last message sets color_temp, so its envelope is recognisable.
	flood := func(i int) string {
		if i == n-1 {
			return `{"state":"ON","brightness":254,"color_temp":250}`
		}
		return fmt.Sprintf(`{"state":"ON","brightness":%d,"linkquality":%d}`, 1+i%200, i%256)
	}
	z2m.Burst("zigbee2mqtt/"+lampName, n, flood)
	z2m.Publish("zigbee2mqtt/"+quietName, `{"state":"OFF"}`, false)

	w.WaitFor(prefix+"devices/"+quietIEEE+"/state", hasField("state.power", false), 30*time.Second)
	isLast := func(m mqtttest.Msg) bool {
		return hasField("state.color_temp", 4000)(m) && hasField("state.brightness", 100)(m)
	}
	w.WaitFor(lampPrefix+"state", isLast, 60*time.Second)
	quietAt, floodDoneAt := -1, -1
	for i, m := range w.Messages() {
		switch {
		case quietAt < 0 && strings.Contains(m.Topic, quietIEEE):
			quietAt = i
		case m.Topic == lampPrefix+"state" && isLast(m):
			floodDoneAt = i
		}
	}
	if quietAt > floodDoneAt {
		t.Errorf("the quiet device waited for the whole flood: its state came at message %d, the flood's last at %d", quietAt, floodDoneAt)
	}
	time.Sleep(200 * time.Millisecond)
	var lastLamp mqtttest.Msg
	for _, m := range w.Messages() {
		if m.Topic == lampPrefix+"state" {
			lastLamp = m
		}
	}
	if !isLast(lastLamp) {
		t.Errorf("the flood device's last envelope is not its newest state: %s", lastLamp.Payload)
	}
	dropped := waitMetric(t, addr, "translator_inbound_dropped_total", func(float64) bool { return true })
	rss := rssKB(t, p.cmd.Process.Pid)
	t.Logf("flood of %d: %v dropped, %d lamp envelopes seen, RSS %d kB", n, dropped, w.Count(lampPrefix+"state", nil), rss)
	if dropped == 0 {
		t.Errorf("a 100k flood against a 1 MiB budget dropped nothing: translator_inbound_dropped_total is 0")
	}
	if rss > 100<<10 {
		t.Errorf("RSS %d kB after the flood: the inbound budget does not bound memory", rss)
	}
}

// TestDaemon_BurstAllDelivered: a burst from one device comes out complete
// and in order at either QoS, each envelope at the configured QoS, and the
// retained per-key topic ends on the newest value. Nothing is refused.
func TestDaemon_BurstAllDelivered(t *testing.T) {
	for _, qos := range []byte{0, 1} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			t.Parallel()
			addr := freeAddr(t)
			b, z2m, w, _ := setup(t, minimalInstance, fmt.Sprintf("MQTT_QOS=%d", qos), "LOG_LEVEL=WARNING", "HTTP_ADDR="+addr)
			// Before connected says the connection is complete (subscribed,
			// online published), startup messages take the publishers' way;
			// the burst starts once the connection is complete and they are out.
			waitMetric(t, addr, "translator_mqtt_connected", func(v float64) bool { return v == 1 })
			waitMetric(t, addr, "translator_publish_waiting", func(v float64) bool { return v == 0 })
			before := map[string]float64{}
			for _, name := range []string{"translator_publish_rejected_total"} {
				before[name] = waitMetric(t, addr, name, func(float64) bool { return true })
			}
			const n = 2000
			// link_quality carries the message's number, so every envelope
			// is distinct and the last one is unambiguous.
			z2m.Burst("zigbee2mqtt/"+lampName, n, func(i int) string {
				return fmt.Sprintf(`{"state":"ON","brightness":254,"linkquality":%d,"color_temp":%d}`, i, 153+i%300)
			})
			last := float64(n - 1)
			w.WaitFor(lampPrefix+"state", hasField("state.link_quality", last), 20*time.Second)
			prev := -1.0
			got := 0
			for _, m := range w.Messages() {
				if m.Topic != lampPrefix+"state" {
					continue
				}
				got++
				if m.QoS != qos {
					t.Fatalf("envelope at QoS %d, want %d", m.QoS, qos)
				}
				lq, _ := jsonField(t, m.Payload, "state.link_quality").(float64)
				if lq != prev+1 {
					t.Fatalf("envelope %d: link_quality %v after %v: lost or reordered", got, lq, prev)
				}
				prev = lq
			}
			if got != n {
				t.Errorf("got %d envelopes, want %d", got, n)
			}
			// The retained per-key topic holds the newest value.
			r := mqtttest.Connect(t, b.Addr, "late-reader")
			r.Subscribe(lampPrefix + "state/link_quality")
			r.WaitFor(lampPrefix+"state/link_quality", payloadIs(fmt.Sprint(last)), 5*time.Second)
			for name, was := range before {
				if v, _ := metricValue(addr, name); v != was {
					t.Errorf("%s went from %v to %v during the burst, want no change", name, was, v)
				}
			}
		})
	}
}

// TestDaemon_SlowUpstreamStartIsNotRestarted: while Zigbee2MQTT is still
// starting (its bridge is not online), a missing device list is reported but
// no restart is requested; the devices appear when Zigbee2MQTT publishes
// them.
func TestDaemon_SlowUpstreamStartIsNotRestarted(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 15 s device-list watch")
	}
	t.Parallel()
	z2m, w, _ := startWithoutDeviceList(t, "offline")

	e := w.WaitFor(prefix+"error", hasField("error_code", "NO_DEVICE_LIST"), 30*time.Second)
	if !strings.Contains(e.Payload, "waiting for zigbee2mqtt") {
		t.Errorf("NO_DEVICE_LIST while the bridge is offline = %s, want a wait", e.Payload)
	}
	z2m.Publish("zigbee2mqtt/bridge/state", `{"state":"online"}`, true)
	z2m.Publish("zigbee2mqtt/bridge/devices", readFile(t, "../../translate/testdata/light_devices.json"), true)
	w.WaitFor(prefix+"meta/devices_list", func(m mqtttest.Msg) bool { return strings.Contains(m.Payload, lampIEEE) }, 5*time.Second)
	if n := w.Count("zigbee2mqtt/bridge/request/restart", nil); n != 0 {
		t.Errorf("restart requested %d times during a slow start", n)
	}
}

// TestDaemon_RepublishOfManyDevicesIsNotHeldBack: after a broker restart the
// daemon republishes every device's retained state in one go, more
// messages at QoS 1 than the broker's receive maximum (20 in Mosquitto):
// every device's state is back on the broker, retained, within seconds.
func TestDaemon_RepublishOfManyDevicesIsNotHeldBack(t *testing.T) {
	t.Parallel()
	const n = 60
	b, z2m := brokerWithDevices(t, manyLamps(t, n))
	addr := freeAddr(t)
	startTranslator(t, b, minimalInstance, "LOG_LEVEL=WARNING", "HTTP_ADDR="+addr)
	waitMetric(t, addr, "translator_mqtt_connected", func(v float64) bool { return v == 1 })
	publishLampStates(z2m, n, false)
	allStates := func(w *mqtttest.Client) {
		t.Helper()
		for i := 0; i < n; i++ {
			w.WaitFor(prefix+fmt.Sprintf("devices/0x000d6ffffe%06x/state", i), func(m mqtttest.Msg) bool { return m.Retain && strings.Contains(m.Payload, `"power":true`) }, 10*time.Second)
		}
	}
	w := mqtttest.Connect(t, b.Addr, "watcher")
	w.Subscribe(prefix + "devices/+/state")
	allStates(w)

	b.Restart() // no persistence: the daemon republishes everything
	w2 := mqtttest.Connect(t, b.Addr, "watcher2")
	w2.Subscribe(prefix + "status")
	w2.WaitFor(prefix+"status", payloadIs("online"), 30*time.Second)
	w2.Subscribe(prefix + "devices/+/state")
	allStates(w2)
}

// TestDaemon_RefusedPublicationIsCountedNotRetried: a topic the broker's ACL
// refuses is answered with an error PUBACK. The daemon logs the first
// refusal, counts every one, does not send the refused message again, and
// the other topics keep flowing.
func TestDaemon_RefusedPublicationIsCountedNotRetried(t *testing.T) {
	t.Parallel()
	refusedTopic := lampPrefix + "state/brightness"
	// Mosquitto reads the ACL after dropping root for its own user: the
	// file must be readable by others, unlike t.TempDir().
	dir, err := os.MkdirTemp("", "acl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	acl := filepath.Join(dir, "acl")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(acl, []byte("topic readwrite #\ntopic deny "+refusedTopic+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, z2m := brokerWithDevices(t, readFile(t, "../../translate/testdata/light_devices.json"), "acl_file "+acl)
	w := mqtttest.Connect(t, b.Addr, "watcher")
	w.Subscribe(lampPrefix + "#")
	addr := freeAddr(t)
	p := startTranslator(t, b, minimalInstance, "HTTP_ADDR="+addr)
	waitMetric(t, addr, "translator_publish_rejected_total", func(float64) bool { return true })

	// Each value is refused before the next is sent: sent sooner, within
	// the state/{key} spacing, a newer value would replace it while it
	// waits (translator_state_key_superseded_total), and the broker would
	// see fewer values to refuse.
	for i, bri := range []int{10, 200, 30} {
		z2m.Publish("zigbee2mqtt/"+lampName, fmt.Sprintf(`{"state":"ON","brightness":%d,"linkquality":%d}`, bri, i), false)
		w.WaitFor(lampPrefix+"state/link_quality", payloadIs(fmt.Sprint(i)), 5*time.Second)
		waitMetric(t, addr, "translator_publish_rejected_total", func(v float64) bool { return v >= float64(i+1) })
	}
	rejected := waitMetric(t, addr, "translator_publish_rejected_total", func(v float64) bool { return v >= 3 })
	time.Sleep(500 * time.Millisecond) // a retry would be refused and counted again
	if v, _ := metricValue(addr, "translator_publish_rejected_total"); v != rejected || v != 3 {
		t.Errorf("translator_publish_rejected_total = %v (then %v), want 3: one per refused value, no retries", rejected, v)
	}
	if n := w.Count(refusedTopic, nil); n != 0 {
		t.Errorf("%d messages on the refused topic reached a subscriber", n)
	}
	if n := strings.Count(p.Output(), "the broker refused a publication"); n != 1 {
		t.Errorf("refusal logged %d times, want once", n)
	}
}

// publishLampStates sends lamp i the state ON with brightness 100+i.
func publishLampStates(z2m *mqtttest.Client, n int, retain bool) {
	for i := 0; i < n; i++ {
		z2m.Publish(fmt.Sprintf("zigbee2mqtt/lamp %d", i), fmt.Sprintf(`{"state":"ON","brightness":%d}`, 100+i), retain)
	}
}

// manyLamps is a bridge/devices payload with the test lamp's definition n
// more times, as "lamp <i>" with IEEE address 0x000d6ffffe<i as 6 hex digits>.
func manyLamps(t *testing.T, n int) string {
	t.Helper()
	var devices []map[string]any
	if err := json.Unmarshal([]byte(readFile(t, "../../translate/testdata/light_devices.json")), &devices); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		lamp := map[string]any{}
		for k, v := range devices[1] {
			lamp[k] = v
		}
		lamp["ieee_address"], lamp["friendly_name"] = fmt.Sprintf("0x000d6ffffe%06x", i), fmt.Sprintf("lamp %d", i)
		devices = append(devices, lamp)
	}
	list, _ := json.Marshal(devices)
	return string(list)
}

// TestDaemon_RetainedStatesAtStartupReachKeyTopics: the retained device
// states a fresh daemon receives come out on their per-key topics, and no
// publication on the healthy connection times out (a PUBACK waited for
// while its packet sat in a cork did, and was retried after 5 s).
func TestDaemon_RetainedStatesAtStartupReachKeyTopics(t *testing.T) {
	t.Parallel()
	const n = 30
	b, z2m := brokerWithDevices(t, manyLamps(t, n))
	publishLampStates(z2m, n, true)
	w := mqtttest.Connect(t, b.Addr, "watcher")
	w.Subscribe(prefix + "devices/+/state/brightness")
	p := startTranslator(t, b, minimalInstance)
	for i := 0; i < n; i++ {
		want := fmt.Sprint(math.Round(float64(100+i) * 100 / 254))
		w.WaitFor(prefix+fmt.Sprintf("devices/0x000d6ffffe%06x/state/brightness", i), payloadIs(want), 10*time.Second)
	}
	if p.logged("publish failed; retrying after reconnect") {
		t.Errorf("a publication timed out on a healthy connection:\n%s", p.Output())
	}
}
