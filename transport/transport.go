// Package transport owns the daemon's MQTT connection to the broker.
//
// One Transport is one MQTT v5 client (autopaho, as released) with a
// persistent session. It
//   - connects and reconnects with backoff, and keeps the instance's
//     retained status topic true: `online` after every (re)connect, once
//     subscribed; `offline` at shutdown, and as the Last Will otherwise;
//   - subscribes to the daemon's filters after every connect, and to the
//     sweep filters on the first connect only;
//   - queues inbound messages per topic and hands them out round robin
//     within a memory budget, so a flooding device delays and sheds only
//     its own traffic (Next, Ready);
//   - publishes in order per topic through a fixed set of publishers with
//     bounded queues, so a slow or absent broker slows the caller instead of
//     growing memory, and retries after a reconnect (Publish);
//   - coalesces last-value topics (Message.Latest) to their newest value,
//     at most one publication per topic every keyTopicInterval;
//   - counts what an operator needs to see (Stats).
//
// The daemon talks to it through that surface only: New, Start, Ready,
// Next and Rearm, Events, Publish, Unsubscribe, Stats and Shutdown. Dial opens the
// plain client the command-line tools use.
package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"
)

// Message is one MQTT message, in either direction. Its fields are those of
// translate.Message, so the daemon converts between the two directly.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	// Latest marks a last-value topic (state/{key}): only its newest value
	// matters, so a value that waits may be replaced by a newer one.
	Latest bool
}

// Config is what the transport needs to know about the broker and the
// daemon's topics.
type Config struct {
	// BrokerURL is mqtt://host:port or mqtts://host:port.
	BrokerURL *url.URL
	ClientID  string
	Username  string
	Password  string
	// CAFile is a PEM bundle that replaces the system roots for mqtts.
	CAFile        string
	KeepAlive     uint16
	SessionExpiry uint32
	// StatusTopic carries the retained `online`/`offline` and the Last Will.
	StatusTopic string
	// Subscriptions are subscribed after every connect, at QoS 1.
	Subscriptions []string
	// SweepSubscriptions are subscribed on the first connect only, with
	// NoLocal, to read the retained leftovers of an earlier run.
	SweepSubscriptions []string
	// InboundBufferBytes bounds the messages waiting in Next's queue.
	InboundBufferBytes int
	// Keep reports inbound topics that are never shed under a flood.
	Keep func(topic string) bool
	Log  zerolog.Logger
}

// Event tells the daemon about the connection.
type Event struct {
	Up        bool // subscribed and `online` published; false: connection lost
	Reconnect bool // an Up after the first one
}

// Stats are the transport's counters and gauges.
type Stats struct {
	Connected      bool
	Reconnects     int64
	Writes         int64 // writes to broker connections
	InboundWaiting int
	InboundBytes   int
	InboundDropped int64
	Superseded     int64 // state/{key} values replaced by a newer one before sending
	Rejected       int64 // QoS 1 publications the broker refused
	Waited         int64 // publications queued behind another or while disconnected
	Waiting        int64 // publications queued now
	KeyInterval    time.Duration
}

// Transport is the daemon's MQTT connection. Create it with New.
type Transport struct {
	cfg    Config
	log    zerolog.Logger
	cm     *autopaho.ConnectionManager
	in     *fairQueue
	events chan Event
	out    *outbox
	status *statusGate

	connected atomic.Bool // subscribed and online published on the current connection
	connects  atomic.Int64
	writes    atomic.Int64
}

// New makes a transport; nothing happens before Start.
func New(cfg Config) *Transport {
	keep := cfg.Keep
	if keep == nil {
		keep = func(string) bool { return false }
	}
	t := &Transport{
		cfg:    cfg,
		log:    cfg.Log,
		in:     newFairQueue(cfg.InboundBufferBytes, keep),
		events: make(chan Event, 16),
		status: newStatusGate(),
	}
	t.out = newOutbox(t)
	return t
}

// Start begins connecting and returns at once; the transport keeps
// reconnecting with backoff until ctx ends. The publishers run until ctx
// ends too.
func (t *Transport) Start(ctx context.Context) error {
	tc, err := t.tlsConfig()
	if err != nil {
		return err
	}
	u := *t.cfg.BrokerURL
	if u.Scheme == "mqtts" {
		u.Scheme = "tls"
	}
	cc := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{&u},
		TlsCfg:                        tc,
		KeepAlive:                     t.cfg.KeepAlive,
		CleanStartOnInitialConnection: false,
		SessionExpiryInterval:         t.cfg.SessionExpiry,
		ReconnectBackoff:              backoff,
		ConnectTimeout:                10 * time.Second,
		WillMessage:                   &paho.WillMessage{Topic: t.cfg.StatusTopic, Payload: []byte("offline"), QoS: 1, Retain: true},
		OnConnectionUp:                t.onUp,
		OnConnectionDown: func() bool {
			t.connected.Store(false)
			t.log.Warn().Msg("mqtt connection lost; reconnecting")
			t.notify(Event{Up: false})
			return true
		},
		OnConnectError: func(err error) {
			t.log.Warn().Err(err).Str("broker", t.cfg.BrokerURL.Redacted()).Msg("mqtt connect failed; retrying")
		},
		ClientConfig: paho.ClientConfig{
			ClientID: t.cfg.ClientID,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				p := pr.Packet
				t.in.push(Message{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain})
				return true, nil
			}},
			OnClientError: func(err error) { t.log.Warn().Err(err).Msg("mqtt client problem") },
		},
	}
	if os.Getenv("all_proxy") == "" { // autopaho's own dialer handles a proxy
		cc.AttemptConnection = func(ctx context.Context, cc autopaho.ClientConfig, u *url.URL) (net.Conn, error) {
			return dialBuffered(ctx, cc.ConnectTimeout, cc.TlsCfg, u, &t.writes)
		}
	}
	if t.cfg.Username != "" && t.cfg.Password != "" {
		cc.ConnectUsername = t.cfg.Username
		cc.ConnectPassword = []byte(t.cfg.Password)
	}
	t.cm, err = autopaho.NewConnection(ctx, cc)
	if err != nil {
		return fmt.Errorf("start mqtt connection: %w", err)
	}
	t.out.start(ctx)
	return nil
}

// backoff is the wait before a connection attempt: none before the first,
// then 1 s, 2 s, … up to 30 s between failed attempts.
func backoff(attempt int) time.Duration {
	if attempt == 0 {
		return 0
	}
	return min(time.Second<<min(attempt-1, 5), 30*time.Second)
}

func (t *Transport) tlsConfig() (*tls.Config, error) {
	if t.cfg.BrokerURL.Scheme != "mqtts" {
		return nil, nil
	}
	tc := &tls.Config{ServerName: t.cfg.BrokerURL.Hostname(), MinVersion: tls.VersionTLS12}
	if t.cfg.CAFile != "" {
		pem, err := os.ReadFile(t.cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read MQTT_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("MQTT_CA_FILE %s: no PEM certificates", t.cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// onUp runs on every (re)connect: subscribe, then publish online. It must
// not block paho, so the work runs in a goroutine, inside the status gate.
func (t *Transport) onUp(cm *autopaho.ConnectionManager, _ *paho.Connack) {
	n := t.connects.Add(1)
	go t.status.run(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		opts := make([]paho.SubscribeOptions, 0, len(t.cfg.Subscriptions)+len(t.cfg.SweepSubscriptions))
		for _, s := range t.cfg.Subscriptions {
			opts = append(opts, paho.SubscribeOptions{Topic: s, QoS: 1})
		}
		if n == 1 {
			// NoLocal: the sweep wants the retained leftovers, which the
			// broker sends on subscribe anyway, not the echo of every state
			// this daemon publishes meanwhile.
			for _, s := range t.cfg.SweepSubscriptions {
				opts = append(opts, paho.SubscribeOptions{Topic: s, QoS: 1, NoLocal: true})
			}
		}
		// An empty SUBSCRIBE is a protocol error: the broker would drop the
		// connection, again after every reconnect.
		if len(opts) > 0 {
			if _, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: opts}); err != nil {
				t.log.Error().Err(err).Msg("subscribe failed")
			}
		}
		// online only once subscribed: a command sent as soon as a client
		// sees online must not fall between connect and subscribe.
		if _, err := cm.Publish(ctx, &paho.Publish{Topic: t.cfg.StatusTopic, Payload: []byte("online"), QoS: 1, Retain: true}); err != nil {
			t.log.Warn().Err(err).Msg("publish online status failed")
		}
		t.connected.Store(true)
		t.log.Info().Str("broker", t.cfg.BrokerURL.Redacted()).Str("client_id", t.cfg.ClientID).Int64("connection", n).Msg("mqtt connected, status online")
		t.notify(Event{Up: true, Reconnect: n > 1})
	})
}

// notify tells the daemon about the connection without ever blocking a
// paho callback.
func (t *Transport) notify(ev Event) {
	select {
	case t.events <- ev:
	default:
		t.log.Warn().Msg("connection event dropped: the daemon is busy")
	}
}

// Events delivers connection changes.
func (t *Transport) Events() <-chan Event { return t.events }

// Ready is signalled when inbound messages are waiting; take them with
// Next until it reports none.
func (t *Transport) Ready() <-chan struct{} { return t.in.ready }

// Next takes the next inbound message, one topic after another.
func (t *Transport) Next() (Message, bool) { return t.in.pop() }

// Rearm signals Ready again when messages are still waiting, for a caller
// that stopped taking them before the queue was empty.
func (t *Transport) Rearm() { t.in.rearm() }

// Unsubscribe removes filters, logging a failure.
func (t *Transport) Unsubscribe(ctx context.Context, filters []string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := t.cm.Unsubscribe(ctx, &paho.Unsubscribe{Topics: filters}); err != nil {
		t.log.Debug().Err(err).Msg("unsubscribe failed")
	}
}

// Stats returns the current counters.
func (t *Transport) Stats() Stats {
	waiting, bytes, dropped := t.in.stats()
	return Stats{
		Connected:      t.connected.Load(),
		Reconnects:     max(t.connects.Load()-1, 0),
		Writes:         t.writes.Load(),
		InboundWaiting: waiting,
		InboundBytes:   bytes,
		InboundDropped: dropped,
		Superseded:     t.out.superseded.Load(),
		Rejected:       t.out.rejected.Load(),
		Waited:         t.out.waited.Load(),
		Waiting:        t.out.queued.Load(),
		KeyInterval:    t.out.keyInterval(),
	}
}

// Shutdown publishes the retained `offline` status and disconnects,
// bounded by ctx.
func (t *Transport) Shutdown(ctx context.Context) {
	if t.cm == nil {
		return
	}
	// Close the gate first: online may still be on its way, and a clean
	// disconnect sends no Last Will (see statusGate).
	if err := t.status.close(ctx); err != nil {
		t.log.Warn().Err(err).Msg("online status still being published at the shutdown deadline")
	}
	if t.connected.Load() {
		if _, err := t.cm.Publish(ctx, &paho.Publish{Topic: t.cfg.StatusTopic, Payload: []byte("offline"), QoS: 1, Retain: true}); err != nil {
			t.log.Warn().Err(err).Msg("publish offline status failed")
		}
	}
	if err := t.cm.Disconnect(ctx); err != nil {
		t.log.Debug().Err(err).Msg("disconnect")
	}
}
