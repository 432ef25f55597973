package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/mqtttest"
	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
	"github.com/rs/zerolog"
)

// syncBuffer is a log sink safe for the broker's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// startBroker connects a broker (the daemon's MQTT side) to a Mosquitto at
// QoS 1 and waits until it is connected; its log goes to the returned sink.
func startBroker(t *testing.T, addr string, port int, subs ...string) (*broker, *syncBuffer) {
	t.Helper()
	u, err := brokerURL("127.0.0.1", port)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{InstanceName: "pub", ClientPrefix: "test", BrokerURL: u, QoS: 1, KeepAlive: 30,
		SessionExpiry: 60, InboundBufferBytes: 1 << 20}
	logs := &syncBuffer{}
	b := newBroker(cfg, zerolog.New(logs).Level(zerolog.DebugLevel), "test/status", subs, nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := b.start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !b.connected.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("not connected to %s (%d connects):\n%s", addr, b.connects.Load(), logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return b, logs
}

// A message that takes the waiting way (here: the connection is not
// confirmed yet) is sent outside every cork: its publisher waits for a
// PUBACK, which cannot come while the packet sits in a cork. A last-value
// message is sent by its table's publisher after uncorking; a FIFO message
// drops the engine's cork. Either mistake stalled the message for
// publishTimeout, again on every retry.
func TestBroker_WaitingWayIsNotCorked(t *testing.T) {
	tests := []struct {
		name       string
		msg        translate.Message
		engineCork bool // the engine is inside a burst
		wantWaited int64
	}{
		{"last-value", translate.Message{Topic: "test/state/brightness", Payload: []byte("42"), QoS: 1, Retain: true, Latest: true}, false, 0},
		{"fifo under the engine's cork", translate.Message{Topic: "test/events", Payload: []byte(`{"event":"x"}`), QoS: 1}, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mb := mqtttest.StartBroker(t)
			w := mqtttest.Connect(t, mb.Addr, "watcher")
			w.Subscribe("test/#")
			b, logs := startBroker(t, mb.Addr, mb.Port, "test/in/#")
			if tt.engineCork {
				release := b.corkEngine()
				defer release()
			}
			b.connected.Store(false) // as between CONNACK and status online
			b.publish(context.Background(), tt.msg)
			w.WaitFor(tt.msg.Topic, func(m mqtttest.Msg) bool { return m.Payload == string(tt.msg.Payload) }, 10*time.Second)
			if strings.Contains(logs.String(), "publish failed") {
				t.Errorf("the publication timed out and was retried:\n%s", logs)
			}
			if got := b.waited.Load(); got != tt.wantWaited {
				t.Errorf("translator_publish_waited_total = %d, want %d", got, tt.wantWaited)
			}
		})
	}
}

// With nothing to subscribe to, the connection comes up once and stays: an
// empty SUBSCRIBE made the broker drop it, again after every reconnect.
func TestBroker_ConnectsWithoutSubscriptions(t *testing.T) {
	mb := mqtttest.StartBroker(t)
	b, logs := startBroker(t, mb.Addr, mb.Port)
	time.Sleep(500 * time.Millisecond)
	if n := b.connects.Load(); n != 1 || !b.connected.Load() {
		t.Errorf("%d connections, connected=%v; want 1 connection that stays up:\n%s", n, b.connected.Load(), logs)
	}
}

// Messages queued behind a waiting one are written without waiting for each
// acknowledgement, as the direct way writes them: with the broker paused,
// all of them get in flight. A publisher that waited for every PUBACK kept
// a burst that began while something waited on that slow way to its end.
// Once the broker resumes they all arrive, in order.
func TestBroker_QueueDrainsWithoutWaitingForAcknowledgements(t *testing.T) {
	mb := mqtttest.StartBroker(t)
	w := mqtttest.Connect(t, mb.Addr, "watcher")
	w.Subscribe("test/#")
	b, logs := startBroker(t, mb.Addr, mb.Port, "test/in/#")
	const n = 10
	b.backlog.Add(1) // as if a message waited on a FIFO publisher
	mb.Pause()
	for i := range n {
		b.publish(context.Background(), translate.Message{Topic: "test/events", Payload: []byte(strconv.Itoa(i)), QoS: 1})
	}
	deadline := time.Now().Add(3 * time.Second)
	for b.inflight.Load() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	inflight := b.inflight.Load()
	mb.Resume()
	if inflight < n {
		t.Errorf("%d of %d queued messages in flight while the broker did not acknowledge, want all", inflight, n)
	}
	w.WaitFor("test/events", func(m mqtttest.Msg) bool { return m.Payload == strconv.Itoa(n-1) }, 10*time.Second)
	var got []string
	for _, m := range w.Messages() {
		if m.Topic == "test/events" {
			got = append(got, m.Payload)
		}
	}
	if want := "0 1 2 3 4 5 6 7 8 9"; strings.Join(got, " ") != want {
		t.Errorf("received %q, want %q\n%s", got, want, logs)
	}
}
