//go:build integration

package transport

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/mqtttest"
	"github.com/rs/zerolog"
)

// These tests run the transport against a real Mosquitto (go test -tags
// integration; test/run.sh installs it). Run them with -race: they drive
// paho's session from several goroutines at once.

// syncBuffer is a log sink the test reads while the transport writes.
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

// startTransport connects a transport to the broker and waits for its
// first Up event; it is shut down when the test ends.
func startTransport(t *testing.T, b *mqtttest.Broker, subs ...string) (*Transport, *syncBuffer) {
	t.Helper()
	u, err := url.Parse("mqtt://127.0.0.1:" + strconv.Itoa(b.Port))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	tr := New(Config{BrokerURL: u, ClientID: "transport-test", KeepAlive: 30, SessionExpiry: 60,
		StatusTopic: "test/status", Subscriptions: subs, InboundBufferBytes: 1 << 20,
		Log: zerolog.New(logs).Level(zerolog.DebugLevel)})
	ctx, cancel := context.WithCancel(context.Background())
	if err := tr.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		tr.Shutdown(sctx)
		cancel()
	})
	waitEvent(t, tr, Event{Up: true}, logs)
	return tr, logs
}

// waitEvent waits for the next connection event and checks it.
func waitEvent(t *testing.T, tr *Transport, want Event, logs *syncBuffer) {
	t.Helper()
	select {
	case got := <-tr.Events():
		if got != want {
			t.Fatalf("event %+v, want %+v\n%s", got, want, logs)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no %+v event within 15 s:\n%s", want, logs)
	}
}

// The status topic is the Last Will's and the daemon's: online, retained,
// once subscribed; offline, retained, after Shutdown.
func TestTransport_StatusOnlineThenOffline(t *testing.T) {
	b := mqtttest.StartBroker(t)
	w := mqtttest.Connect(t, b.Addr, "watcher")
	w.Subscribe("test/status")
	tr, _ := startTransport(t, b)
	w.WaitFor("test/status", func(m mqtttest.Msg) bool { return m.Payload == "online" && m.Retain }, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tr.Shutdown(ctx)
	w.WaitFor("test/status", func(m mqtttest.Msg) bool { return m.Payload == "offline" && m.Retain }, 5*time.Second)
}

// With nothing to subscribe to, the connection comes up once and stays: an
// empty SUBSCRIBE would make the broker drop it, again after every
// reconnect.
func TestTransport_ConnectsWithoutSubscriptions(t *testing.T) {
	b := mqtttest.StartBroker(t)
	tr, logs := startTransport(t, b)
	time.Sleep(500 * time.Millisecond)
	if st := tr.Stats(); st.Reconnects != 0 || !st.Connected {
		t.Errorf("stats %+v; want one connection that stays up:\n%s", st, logs)
	}
}

// Inbound messages reach Next; each topic's keep their order.
func TestTransport_Receives(t *testing.T) {
	b := mqtttest.StartBroker(t)
	tr, _ := startTransport(t, b, "in/#")
	p := mqtttest.Connect(t, b.Addr, "publisher")
	for i := range 5 {
		p.Publish("in/a", strconv.Itoa(i), false)
		p.Publish("in/b", strconv.Itoa(i), false)
	}
	got := map[string][]string{}
	deadline := time.After(5 * time.Second)
	for len(got["in/a"])+len(got["in/b"]) < 10 {
		select {
		case <-tr.Ready():
		case <-deadline:
			t.Fatalf("received %v, want 5 messages on each topic", got)
		}
		for m, ok := tr.Next(); ok; m, ok = tr.Next() {
			got[m.Topic] = append(got[m.Topic], string(m.Payload))
		}
	}
	for _, topic := range []string{"in/a", "in/b"} {
		if g := strings.Join(got[topic], " "); g != "0 1 2 3 4" {
			t.Errorf("%s: received %q, want 0 1 2 3 4", topic, g)
		}
	}
}

// Messages published while the broker does not answer wait; once it
// answers again they all arrive, in order per topic. A caller that keeps
// publishing meanwhile is held back once the queues are full, instead of
// growing memory.
func TestTransport_SlowBrokerHoldsTheCallerBack(t *testing.T) {
	b := mqtttest.StartBroker(t)
	w := mqtttest.Connect(t, b.Addr, "watcher")
	w.Subscribe("out/#")
	tr, logs := startTransport(t, b)
	b.Pause()
	done := make(chan int)
	const n = publishers*publisherDepth + 500
	go func() {
		for i := range n {
			tr.Publish(context.Background(), Message{Topic: fmt.Sprintf("out/%d", i%4), Payload: []byte(strconv.Itoa(i)), QoS: 1})
		}
		close(done)
	}()
	time.Sleep(time.Second)
	select {
	case <-done:
		b.Resume()
		t.Fatalf("%d publications were taken while the broker was paused; want the caller held back", n)
	default:
	}
	if st := tr.Stats(); st.Waiting == 0 {
		t.Errorf("stats %+v: want publications waiting", st)
	}
	b.Resume()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the caller is still held back 30 s after the broker resumed:\n%s", logs)
	}
	last := strconv.Itoa(n - 1)
	w.WaitFor(fmt.Sprintf("out/%d", (n-1)%4), func(m mqtttest.Msg) bool { return m.Payload == last }, 30*time.Second)
	prev := map[string]int{}
	for _, m := range w.Messages() {
		v, _ := strconv.Atoi(m.Payload)
		if p, seen := prev[m.Topic]; seen && v <= p {
			t.Fatalf("%s: %d after %d: reordered", m.Topic, v, p)
		}
		prev[m.Topic] = v
	}
}

// After the broker restarts, the transport reconnects, says so, publishes
// online again and sends what was published while it was away.
func TestTransport_ReconnectsAndDeliversWhatWaited(t *testing.T) {
	b := mqtttest.StartBroker(t)
	tr, logs := startTransport(t, b, "in/#")
	b.Stop()
	waitEvent(t, tr, Event{Up: false}, logs)
	tr.Publish(context.Background(), Message{Topic: "out/x", Payload: []byte("while away"), QoS: 1, Retain: true})
	b.Restart()
	waitEvent(t, tr, Event{Up: true, Reconnect: true}, logs)
	w := mqtttest.Connect(t, b.Addr, "watcher")
	w.Subscribe("out/x", "test/status")
	w.WaitFor("out/x", func(m mqtttest.Msg) bool { return m.Payload == "while away" }, 15*time.Second)
	w.WaitFor("test/status", func(m mqtttest.Msg) bool { return m.Payload == "online" }, 5*time.Second)
	if st := tr.Stats(); st.Reconnects != 1 || st.Waited == 0 {
		t.Errorf("stats %+v: want 1 reconnect and the publication counted as waited", st)
	}
}

// Values for a state/{key} topic that come faster than keyTopicInterval
// collapse: the broker sees the first at once and then the newest, not
// every one.
func TestTransport_LatestCollapses(t *testing.T) {
	b := mqtttest.StartBroker(t)
	w := mqtttest.Connect(t, b.Addr, "watcher")
	w.Subscribe("out/#")
	tr, _ := startTransport(t, b)
	for i := range 20 {
		tr.Publish(context.Background(), Message{Topic: "out/state/brightness", Payload: []byte(strconv.Itoa(i)), QoS: 1, Retain: true, Latest: true})
	}
	w.WaitFor("out/state/brightness", func(m mqtttest.Msg) bool { return m.Payload == "19" }, 5*time.Second)
	time.Sleep(2 * keyTopicInterval)
	if n := w.Count("out/state/brightness", nil); n != 2 {
		t.Errorf("%d publications of 20 values, want 2 (the first and the newest): %v", n, w.Messages())
	}
	if st := tr.Stats(); st.Superseded != 18 {
		t.Errorf("superseded %d, want 18", st.Superseded)
	}
}
