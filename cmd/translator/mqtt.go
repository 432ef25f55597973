package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session/state"
	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
	"github.com/rs/zerolog"
)

// broker is the daemon's MQTT side: one autopaho connection that publishes
// `online` after every (re)connect, subscribes, and hands every received
// message to a per-topic fair queue drained by the engine goroutine.
type broker struct {
	cfg    *Config
	log    zerolog.Logger
	cm     *autopaho.ConnectionManager
	in     *fairQueue
	events chan brokerEvent
	out    []chan translate.Message // FIFO publishers' queues
	latest []*latestTable           // last-value publishers' tables

	// session is the MQTT session shared by every connection; QoS 1
	// publications enter it directly (see publishNow) and their
	// acknowledgements arrive on acks.
	session *state.State
	// store holds the session's packets, encoded; publishNow writes them.
	store *packetStore
	acks  chan packets.ControlPacket
	// backlog counts messages on the waiting path (FIFO publishers, retries):
	// while any wait, new messages queue behind them instead of overtaking.
	backlog atomic.Int64
	// inflight counts QoS 1 messages publishNow put into the session that
	// are not acknowledged yet; sendWindow is the broker's receive maximum.
	inflight   atomic.Int64
	sendWindow atomic.Int64
	room       wakeup      // broadcast when the window has room again (roomAgain)
	keyLoad    keyPressure // whether per-key topics are more than the broker takes

	statusTopic string
	subs        []string
	sweepSubs   []string

	status     *statusGate // orders online and offline
	connected  atomic.Bool // subscribed and online published on the current connection
	connects   atomic.Int64
	superseded atomic.Int64            // state/{key} values replaced by a newer one before sending
	rejected   atomic.Int64            // QoS 1 publications the broker refused (PUBACK reason >= 0x80)
	waited     atomic.Int64            // messages that went to a FIFO publisher instead of out at once
	conn       atomic.Pointer[bufConn] // the latest connection (nil with a proxy)
	engineCork atomic.Pointer[bufConn] // the connection the engine holds corked (see corkEngine)
	writes     atomic.Int64            // writes to broker connections, all of them
}

// brokerEvent tells the engine goroutine about the connection.
type brokerEvent struct {
	up        bool
	reconnect bool // a connection after the first one
}

// keepTopic exempts Zigbee2MQTT bridge topics and IoT2MQTT requests from
// the fair queue's dropping: only device traffic is shed under a flood.
func keepTopic(topic string) bool {
	return strings.Contains(topic, "/bridge/") || strings.Contains(topic, "/v1/instances/")
}

func newBroker(cfg *Config, log zerolog.Logger, statusTopic string, subs, sweepSubs []string) *broker {
	store := newPacketStore()
	return &broker{
		store:       store,
		session:     state.New(store, newPacketStore()),
		cfg:         cfg,
		log:         log,
		in:          newFairQueue(cfg.InboundBufferBytes, keepTopic),
		acks:        make(chan packets.ControlPacket, 1024),
		events:      make(chan brokerEvent, 16),
		statusTopic: statusTopic,
		subs:        subs,
		sweepSubs:   sweepSubs,
		status:      newStatusGate(),
	}
}

func (b *broker) tlsConfig() (*tls.Config, error) {
	if b.cfg.BrokerURL.Scheme != "mqtts" {
		return nil, nil
	}
	tc := &tls.Config{ServerName: b.cfg.BrokerURL.Hostname(), MinVersion: tls.VersionTLS12}
	if b.cfg.CAFile != "" {
		pem, err := os.ReadFile(b.cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read MQTT_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("MQTT_CA_FILE %s: no PEM certificates", b.cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// start begins connecting; it returns at once and keeps reconnecting with
// backoff until ctx ends.
func (b *broker) start(ctx context.Context) error {
	tc, err := b.tlsConfig()
	if err != nil {
		return err
	}
	u := *b.cfg.BrokerURL
	if u.Scheme == "mqtts" {
		u.Scheme = "tls"
	}
	// autopaho waits backoff(0) before the very first attempt too: connect
	// at once, then 1 s, 2 s, … up to 30 s between failed attempts.
	backoff := func(attempt int) time.Duration {
		if attempt == 0 {
			return 0
		}
		d := time.Second << min(attempt-1, 5)
		return min(d, 30*time.Second)
	}
	cc := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{&u},
		TlsCfg:                        tc,
		KeepAlive:                     b.cfg.KeepAlive,
		CleanStartOnInitialConnection: false,
		SessionExpiryInterval:         b.cfg.SessionExpiry,
		ReconnectBackoff:              backoff,
		ConnectTimeout:                10 * time.Second,
		WillMessage:                   &paho.WillMessage{Topic: b.statusTopic, Payload: []byte("offline"), QoS: 1, Retain: true},
		OnConnectionUp:                b.onUp,
		OnConnectionDown: func() bool {
			b.connected.Store(false)
			b.log.Warn().Msg("mqtt connection lost; reconnecting")
			b.notify(brokerEvent{up: false})
			return true
		},
		OnConnectError: func(err error) {
			b.log.Warn().Err(err).Str("broker", b.cfg.BrokerURL.Redacted()).Msg("mqtt connect failed; retrying")
		},
		ClientConfig: paho.ClientConfig{
			ClientID: b.cfg.ClientID(),
			Session:  holdingSession{State: b.session, hold: b.holdAck},
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				p := pr.Packet
				b.in.push(translate.Message{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain})
				return true, nil
			}},
			OnClientError: func(err error) { b.log.Warn().Err(err).Msg("mqtt client problem") },
		},
	}
	if os.Getenv("all_proxy") == "" { // autopaho's own dialer handles the proxy
		cc.AttemptConnection = func(ctx context.Context, cc autopaho.ClientConfig, u *url.URL) (net.Conn, error) {
			c, err := dialBuffered(ctx, cc, u)
			if err == nil {
				c.writes = &b.writes
				b.conn.Store(c)
			}
			return c, err
		}
	}
	if b.cfg.Username != "" && b.cfg.Password != "" {
		cc.ConnectUsername = b.cfg.Username
		cc.ConnectPassword = []byte(b.cfg.Password)
	}
	go b.drainAcks()
	b.cm, err = autopaho.NewConnection(ctx, cc)
	if err != nil {
		return fmt.Errorf("start mqtt connection: %w", err)
	}
	b.startPublishers(ctx)
	return nil
}

// onUp runs on every (re)connect: subscribe, then publish online. It must
// not block, so the work happens in a goroutine, inside the status gate.
func (b *broker) onUp(cm *autopaho.ConnectionManager, ca *paho.Connack) {
	n := b.connects.Add(1)
	window := int64(65535) // MQTT's default receive maximum
	if ca.Properties != nil && ca.Properties.ReceiveMaximum != nil {
		window = int64(*ca.Properties.ReceiveMaximum)
	}
	b.sendWindow.Store(window)
	if !ca.SessionPresent { // the session dropped what was in flight without acknowledgements
		b.inflight.Store(0)
	}
	b.room.broadcast()
	go b.status.run(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		opts := make([]paho.SubscribeOptions, 0, len(b.subs)+len(b.sweepSubs))
		for _, s := range b.subs {
			opts = append(opts, paho.SubscribeOptions{Topic: s, QoS: 1})
		}
		if n == 1 {
			// NoLocal: the sweep wants the retained leftovers (which the broker
			// still sends on subscribe), not the echo of every state this
			// daemon publishes meanwhile; those echoes cost CPU and, with the
			// broker's Nagle and our delayed ACKs, stalled inbound traffic.
			for _, s := range b.sweepSubs {
				opts = append(opts, paho.SubscribeOptions{Topic: s, QoS: 1, NoLocal: true})
			}
		}
		// An empty SUBSCRIBE is a protocol error: the broker would drop the
		// connection, again after every reconnect.
		if len(opts) > 0 {
			if _, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: opts}); err != nil {
				b.log.Error().Err(err).Msg("subscribe failed")
			}
		}
		// online only once subscribed: a command sent as soon as a client
		// sees online must not fall between connect and subscribe.
		if _, err := cm.Publish(ctx, &paho.Publish{Topic: b.statusTopic, Payload: []byte("online"), QoS: 1, Retain: true}); err != nil {
			b.log.Warn().Err(err).Msg("publish online status failed")
		}
		b.connected.Store(true)
		b.log.Info().Str("broker", b.cfg.BrokerURL.Redacted()).Str("client_id", b.cfg.ClientID()).Int64("connection", n).Int64("receive_maximum", window).Msg("mqtt connected, status online")
		b.notify(brokerEvent{up: true, reconnect: n > 1})
	})
}

// notify tells the engine goroutine about the connection without ever
// blocking a paho callback.
func (b *broker) notify(ev brokerEvent) {
	select {
	case b.events <- ev:
	default:
		b.log.Warn().Msg("connection event dropped: engine is busy")
	}
}

func (b *broker) send(ctx context.Context, m translate.Message) {
	p := &paho.Publish{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain}
	for {
		var err error
		if m.QoS == 0 { // returns once written; nothing to wait for
			_, err = b.cm.Publish(ctx, p)
		} else {
			// Bounded: a QoS 1 publish in flight when the connection is reset
			// can wait forever for its acknowledgement and stall this queue.
			attempt, cancel := context.WithTimeout(ctx, publishTimeout)
			var pr *paho.PublishResponse
			pr, err = b.cm.Publish(attempt, p)
			cancel()
			if pr != nil && pr.ReasonCode >= 0x80 { // refused: sending it again would be refused again
				b.refused(err.Error())
				return
			}
		}
		if err == nil || ctx.Err() != nil {
			return
		}
		b.log.Debug().Err(err).Str("topic", m.Topic).Msg("publish failed; retrying after reconnect")
		if err := b.cm.AwaitConnection(ctx); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond) // let subscriptions and online go first
	}
}

// unsubscribe removes filters, logging failures.
func (b *broker) unsubscribe(ctx context.Context, filters []string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := b.cm.Unsubscribe(ctx, &paho.Unsubscribe{Topics: filters}); err != nil {
		b.log.Debug().Err(err).Msg("unsubscribe failed")
	}
}

// shutdown publishes the retained offline status and disconnects, bounded by
// ctx.
func (b *broker) shutdown(ctx context.Context) {
	if b.cm == nil {
		return
	}
	// Closing the gate first: online may still be on its way, and a clean
	// disconnect sends no last will (see statusGate).
	if err := b.status.close(ctx); err != nil {
		b.log.Warn().Err(err).Msg("online status still being published at the shutdown deadline")
	}
	if b.connected.Load() {
		if _, err := b.cm.Publish(ctx, &paho.Publish{Topic: b.statusTopic, Payload: []byte("offline"), QoS: 1, Retain: true}); err != nil {
			b.log.Warn().Err(err).Msg("publish offline status failed")
		}
	}
	if err := b.cm.Disconnect(ctx); err != nil {
		b.log.Debug().Err(err).Msg("disconnect")
	}
}

// holdingSession is the daemon's MQTT session as paho's reader sees it: an
// inbound QoS 1 message starts holdAck before paho hands it on, on the
// reader's goroutine. The reader then knows, before it waits for more data,
// that the message's PUBACK is sure to be written, and leaves the TCP
// acknowledgement of what it read to that write (see carryAcksWhile).
type holdingSession struct {
	*state.State
	hold func()
}

func (s holdingSession) PacketReceived(p *packets.ControlPacket, deliver chan<- *packets.Publish) error {
	if pb, ok := p.Content.(*packets.Publish); ok && pb.QoS > 0 {
		s.hold()
	}
	return s.State.PacketReceived(p, deliver)
}
