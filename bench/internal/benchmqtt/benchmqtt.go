// Package benchmqtt holds what the benchmark tools (bench/soak,
// bench/virtual) share: a private Mosquitto and plain paho clients of it.
package benchmqtt

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// FreePort is a loopback TCP port nothing listens on.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartBroker starts Mosquitto with the configuration file conf and waits
// until it listens on port.
func StartBroker(conf string, port int) (*exec.Cmd, error) {
	cmd := exec.Command("mosquitto", "-c", conf)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("mosquitto: %w", err)
	}
	for range 200 {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return cmd, nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return nil, fmt.Errorf("mosquitto did not listen on %d", port)
}

// Connect dials the broker on port until it succeeds (or 30 s pass) and
// returns a connected client. onMsg receives its messages (nil: none);
// onLost, when set, runs once in its own goroutine when the connection is
// lost.
func Connect(port int, id string, onMsg func(paho.PublishReceived) (bool, error), onLost func()) (*paho.Client, error) {
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			if time.Now().After(deadline) {
				return nil, err
			}
			continue
		}
		cfg := paho.ClientConfig{Conn: conn, ClientID: id}
		if onMsg != nil {
			cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){onMsg}
		}
		var once sync.Once
		lost := func() {
			if onLost != nil {
				once.Do(func() { go onLost() })
			}
		}
		cfg.OnClientError = func(error) { lost() }
		cfg.OnServerDisconnect = func(*paho.Disconnect) { lost() }
		c := paho.NewClient(cfg)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true})
		cancel()
		if err == nil {
			return c, nil
		}
		conn.Close()
		if time.Now().After(deadline) {
			return nil, err
		}
	}
}

// Subscribe subscribes c to topics at QoS qos.
func Subscribe(c *paho.Client, qos byte, topics ...string) error {
	s := &paho.Subscribe{}
	for _, t := range topics {
		s.Subscriptions = append(s.Subscriptions, paho.SubscribeOptions{Topic: t, QoS: qos})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Subscribe(ctx, s)
	return err
}
