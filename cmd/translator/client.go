package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// connectClient opens a plain MQTT v5 client with a clean session, for the
// command-line tools (record, check -broker, sandbox). u is mqtt://host:port
// or mqtts://host:port; credentials are sent when user is set. onMsg runs on
// paho's receive goroutine.
func connectClient(ctx context.Context, u *url.URL, id, user, password string, onMsg func(*paho.Publish)) (*paho.Client, error) {
	var conn net.Conn
	var err error
	if u.Scheme == "mqtts" || u.Scheme == "tls" {
		conn, err = tls.Dial("tcp", u.Host, &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12})
	} else {
		conn, err = net.Dial("tcp", u.Host)
	}
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", u.Redacted(), err)
	}
	cli := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) { onMsg(pr.Packet); return true, nil },
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
		return nil, fmt.Errorf("connect %s: %w", u.Redacted(), err)
	}
	if ca.ReasonCode != 0 {
		return nil, fmt.Errorf("connect %s: broker refused the connection (reason %d)", u.Redacted(), ca.ReasonCode)
	}
	return cli, nil
}
