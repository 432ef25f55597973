package transport

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// Client is a plain MQTT v5 client with a clean session, for the
// command-line tools (record, check -broker, sandbox): no reconnects, no
// status topic.
type Client struct {
	cli *paho.Client
}

// Filter is one subscription of a Client.
type Filter struct {
	Topic             string
	QoS               byte
	NoLocal           bool // do not receive this client's own publications
	RetainAsPublished bool // keep the retain flag on messages forwarded live
}

// Dial connects a Client to u (mqtt://host:port or mqtts://host:port) as
// id; credentials are sent when user is set. onMsg runs on the client's
// receiving goroutine for every message.
func Dial(ctx context.Context, u *url.URL, id, user, password string, onMsg func(Message)) (*Client, error) {
	var conn net.Conn
	var err error
	if u.Scheme == "mqtts" || u.Scheme == "tls" {
		d := tls.Dialer{Config: &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}}
		conn, err = d.DialContext(ctx, "tcp", u.Host)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", u.Host)
	}
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", u.Redacted(), err)
	}
	cli := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) {
			p := pr.Packet
			onMsg(Message{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain})
			return true, nil
		},
	}})
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cp := &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}
	if user != "" {
		cp.Username, cp.UsernameFlag = user, true
		cp.Password, cp.PasswordFlag = []byte(password), password != ""
	}
	ca, err := cli.Connect(cctx, cp)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("connect %s: %w", u.Redacted(), err)
	}
	if ca.ReasonCode != 0 {
		_ = conn.Close()
		return nil, fmt.Errorf("connect %s: broker refused the connection (reason %d)", u.Redacted(), ca.ReasonCode)
	}
	return &Client{cli: cli}, nil
}

// Subscribe subscribes to filters and waits for the broker's answer.
func (c *Client) Subscribe(ctx context.Context, filters ...Filter) error {
	opts := make([]paho.SubscribeOptions, len(filters))
	for i, f := range filters {
		opts[i] = paho.SubscribeOptions{Topic: f.Topic, QoS: f.QoS, NoLocal: f.NoLocal, RetainAsPublished: f.RetainAsPublished}
	}
	if _, err := c.cli.Subscribe(ctx, &paho.Subscribe{Subscriptions: opts}); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	return nil
}

// Publish sends m; at QoS 1 it waits for the broker's acknowledgement.
func (c *Client) Publish(ctx context.Context, m Message) error {
	if _, err := c.cli.Publish(ctx, &paho.Publish{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain}); err != nil {
		return fmt.Errorf("publish %s: %w", m.Topic, err)
	}
	return nil
}

// Close disconnects.
func (c *Client) Close() error { return c.cli.Disconnect(&paho.Disconnect{}) }
