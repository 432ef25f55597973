package main_test

import (
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
