// Package mqtttest runs a real Mosquitto broker for tests and gives tests a
// small MQTT v5 client that records what it receives.
package mqtttest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// Broker is a Mosquitto process listening on a free loopback port.
type Broker struct {
	Port    int
	Addr    string
	dir     string
	extra   string
	cmd     *exec.Cmd
	t       testing.TB
	logPath string
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// MosquittoPath finds the mosquitto binary (PATH, then /usr/sbin).
func MosquittoPath() (string, error) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("mosquitto not found: install the Debian package mosquitto (.ci/run does)")
}

// StartBroker starts Mosquitto on a free port with persistence off,
// anonymous access and room for a million messages queued per client;
// extraConf lines are appended to its configuration. The broker is stopped
// when the test ends, and its log is printed if the test failed.
func StartBroker(t testing.TB, extraConf ...string) *Broker {
	t.Helper()
	b := &Broker{Port: FreePort(t), dir: t.TempDir(), t: t, extra: strings.Join(extraConf, "\n")}
	b.Addr = "127.0.0.1:" + strconv.Itoa(b.Port)
	b.start()
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			b.printLog()
		}
	})
	return b
}

// printLog puts the broker's log into the test output: its notices (a
// client disconnected, outgoing messages dropped) explain many failures.
func (b *Broker) printLog() {
	log, err := os.ReadFile(b.logPath)
	if err != nil {
		b.t.Logf("mosquitto log: %v", err)
		return
	}
	b.t.Logf("mosquitto log:\n%s", log)
}

func (b *Broker) start() {
	b.t.Helper()
	path, err := MosquittoPath()
	if err != nil {
		b.t.Fatal(err)
	}
	conf := filepath.Join(b.dir, "mosquitto.conf")
	// A per-client queue that never fills in a test: with Mosquitto's
	// default of 1000 it drops messages for a test client that falls behind
	// a burst on a busy machine, and the test would blame the translator.
	// Not 0 (no limit): Mosquitto 2.0.11 then drops the connection of a
	// client whose publication its ACL refused.
	body := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 1000000\n%s\n", b.Port, b.extra)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.logPath = filepath.Join(b.dir, "mosquitto.log")
	logf, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.t.Fatal(err)
	}
	b.cmd = exec.Command(path, "-c", conf)
	b.cmd.Stdout, b.cmd.Stderr = logf, logf
	if err := b.cmd.Start(); err != nil {
		b.t.Fatalf("start mosquitto: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", b.Addr, 100*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.t.Fatalf("mosquitto did not listen on %s", b.Addr)
}

// Stop kills the broker (a crash, as far as clients can tell).
func (b *Broker) Stop() {
	if b.cmd != nil && b.cmd.Process != nil {
		_ = b.cmd.Process.Kill()
		_, _ = b.cmd.Process.Wait()
		b.cmd = nil
	}
}

// Pause stops the broker process without closing its connections (SIGSTOP):
// it reads nothing and acknowledges nothing until Resume.
func (b *Broker) Pause() { b.signal(syscall.SIGSTOP) }

// Resume continues a paused broker (SIGCONT).
func (b *Broker) Resume() { b.signal(syscall.SIGCONT) }

func (b *Broker) signal(sig syscall.Signal) {
	b.t.Helper()
	if b.cmd == nil || b.cmd.Process == nil {
		b.t.Fatal("signal a broker that is not running")
	}
	if err := b.cmd.Process.Signal(sig); err != nil {
		b.t.Fatalf("signal mosquitto: %v", err)
	}
}

// Restart stops the broker and starts it again on the same port. Without
// persistence every retained message and session is gone.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	b.start()
}

// Msg is a received message.
type Msg struct {
	Topic   string
	Payload string
	QoS     byte
	Retain  bool
	At      time.Time
}

// Client is a test MQTT v5 client that records every message it receives.
type Client struct {
	t   testing.TB
	cli *paho.Client
	mu  sync.Mutex
	got []Msg
	new chan struct{}
}

// Connect opens a client to addr with a clean session.
func Connect(t testing.TB, addr, clientID string) *Client {
	t.Helper()
	c := &Client{t: t, new: make(chan struct{}, 1)}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial broker: %v", err)
	}
	c.cli = paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.mu.Lock()
			c.got = append(c.got, Msg{Topic: pr.Packet.Topic, Payload: string(pr.Packet.Payload), QoS: pr.Packet.QoS, Retain: pr.Packet.Retain, At: time.Now()})
			c.mu.Unlock()
			select {
			case c.new <- struct{}{}:
			default:
			}
			return true, nil
		}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ca, err := c.cli.Connect(ctx, &paho.Connect{ClientID: clientID, CleanStart: true, KeepAlive: 30})
	if err != nil || ca.ReasonCode != 0 {
		t.Fatalf("connect test client: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = c.cli.Disconnect(&paho.Disconnect{})
		<-ctx.Done()
	})
	return c
}

// Subscribe subscribes to filters at QoS 1 with retain-as-published, so
// tests see the retain flag the publisher set.
func (c *Client) Subscribe(filters ...string) {
	c.t.Helper()
	opts := make([]paho.SubscribeOptions, len(filters))
	for i, f := range filters {
		opts[i] = paho.SubscribeOptions{Topic: f, QoS: 1, RetainAsPublished: true}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.cli.Subscribe(ctx, &paho.Subscribe{Subscriptions: opts}); err != nil {
		c.t.Fatalf("subscribe %v: %v", filters, err)
	}
}

// Publish publishes at QoS 1.
func (c *Client) Publish(topic, payload string, retain bool) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.cli.Publish(ctx, &paho.Publish{Topic: topic, Payload: []byte(payload), QoS: 1, Retain: retain}); err != nil {
		c.t.Fatalf("publish %s: %v", topic, err)
	}
}

// Burst publishes n QoS 0 messages on topic as fast as the connection takes
// them; payload(i) makes the i-th.
func (c *Client) Burst(topic string, n int, payload func(i int) string) {
	c.t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		if _, err := c.cli.Publish(ctx, &paho.Publish{Topic: topic, Payload: []byte(payload(i))}); err != nil {
			c.t.Fatalf("publish %s #%d: %v", topic, i, err)
		}
	}
}

// Messages returns a copy of everything received so far.
func (c *Client) Messages() []Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Msg(nil), c.got...)
}

// Reset forgets received messages.
func (c *Client) Reset() {
	c.mu.Lock()
	c.got = nil
	c.mu.Unlock()
}

// WaitFor waits until a received message on topic satisfies match, and
// returns it. It fails the test after timeout, listing what arrived.
func (c *Client) WaitFor(topic string, match func(Msg) bool, timeout time.Duration) Msg {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		for _, m := range c.Messages() {
			if m.Topic == topic && (match == nil || match(m)) {
				return m
			}
		}
		select {
		case <-c.new:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			var seen []string
			for _, m := range c.Messages() {
				seen = append(seen, fmt.Sprintf("  %s retain=%v %s", m.Topic, m.Retain, m.Payload))
			}
			c.t.Fatalf("no matching message on %s within %s; received:\n%s", topic, timeout, strings.Join(seen, "\n"))
			return Msg{}
		}
	}
}

// Count returns how many messages on topic satisfy match.
func (c *Client) Count(topic string, match func(Msg) bool) int {
	n := 0
	for _, m := range c.Messages() {
		if m.Topic == topic && (match == nil || match(m)) {
			n++
		}
	}
	return n
}
