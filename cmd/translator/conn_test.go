package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/eclipse/paho.golang/packets"
)

func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// writePacket writes a PUBLISH the way paho does: under Lock, in pieces.
func writePacket(c *bufConn, topic, payload string) error {
	c.Lock()
	defer c.Unlock()
	p := &packets.Publish{Topic: topic, Payload: []byte(payload)}
	var b bytes.Buffer
	if _, err := p.WriteTo(&b); err != nil {
		return err
	}
	raw := b.Bytes()
	for len(raw) > 0 {
		n := min(3, len(raw))
		if _, err := c.Write(raw[:n]); err != nil {
			return err
		}
		raw = raw[n:]
	}
	return nil
}

// writeEncoded writes a PUBLISH the way publishNow does: encoded whole
// beforehand, then handed over in one call.
func writeEncoded(c *bufConn, topic, payload string) error {
	p := &packets.Publish{Topic: topic, Payload: []byte(payload)}
	var b bytes.Buffer
	if _, err := p.WriteTo(&b); err != nil {
		return err
	}
	return c.writePacket(b.Bytes())
}

// writeQoS0 writes a PUBLISH the way publishNow does at QoS 0: encoded
// straight into the pending bytes.
func writeQoS0(c *bufConn, topic, payload string) error {
	return c.writePublishQoS0(topic, []byte(payload), false)
}

// Packets written from several goroutines, some in pieces under paho's lock,
// some whole and some encoded in place, arrive whole, in order per writer, and Close sends what is
// still pending.
func TestBufConn_BatchesWholePacketsInOrder(t *testing.T) {
	client, server := tcpPair(t)
	c := newBufConn(client)
	const writers, each = 6, 500
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		write := []func(*bufConn, string, string) error{writePacket, writeEncoded, writeQoS0}[w%3]
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := write(c, fmt.Sprintf("w%d", w), fmt.Sprint(i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	next := map[string]int{}
	for n := 0; n < writers*each; n++ {
		cp, err := packets.ReadPacket(server)
		if err != nil {
			t.Fatalf("packet %d: %v", n, err)
		}
		p := cp.Content.(*packets.Publish)
		if got, want := string(p.Payload), fmt.Sprint(next[p.Topic]); got != want {
			t.Fatalf("%s: payload %s, want %s", p.Topic, got, want)
		}
		next[p.Topic]++
	}
	if _, err := server.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("after the last packet: %v, want EOF", err)
	}
}

// Close writes what a cork still holds (the DISCONNECT of a shutdown that
// meets an engine burst).
func TestBufConn_CloseWritesCorkedPackets(t *testing.T) {
	client, server := tcpPair(t)
	c := newBufConn(client)
	c.cork()
	if err := writePacket(c, "t", "corked"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	cp, err := packets.ReadPacket(server)
	if err != nil {
		t.Fatalf("corked packet lost on Close: %v", err)
	}
	if p := cp.Content.(*packets.Publish); string(p.Payload) != "corked" {
		t.Errorf("got payload %q", p.Payload)
	}
}

// After the peer goes away, writes fail instead of queueing forever.
func TestBufConn_WriteErrorIsReturned(t *testing.T) {
	client, server := tcpPair(t)
	c := newBufConn(client)
	server.Close()
	var err error
	for i := 0; i < 100000 && err == nil; i++ {
		err = writePacket(c, "t", "payload")
	}
	if err == nil {
		t.Fatal("writes to a closed peer kept succeeding")
	}
	if err2 := writePacket(c, "t", "again"); err2 == nil {
		t.Error("a later write succeeded after a write error")
	}
}

// The in-place QoS 0 encoding is what paho's decoder reads back: topic,
// payload, retain flag and QoS, for payloads whose length needs one to three
// bytes of remaining length, and an empty payload (a cleared retained topic).
func TestAppendPublishQoS0_DecodesAsSent(t *testing.T) {
	tests := []struct {
		name    string
		topic   string
		payload []byte
		retain  bool
	}{
		{"small retained", "IoT2mqtt/v1/instances/x/devices/d/state", []byte(`{"a":1}`), true},
		{"empty payload", "IoT2mqtt/v1/instances/x/devices/d/state/brightness", nil, true},
		{"two length bytes", "t", bytes.Repeat([]byte("p"), 200), false},
		{"three length bytes", "t/long", bytes.Repeat([]byte("q"), 20000), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := appendPublishQoS0([]byte("before"), tt.topic, tt.payload, tt.retain)
			if !bytes.HasPrefix(b, []byte("before")) {
				t.Fatalf("appended over the existing bytes")
			}
			cp, err := packets.ReadPacket(bytes.NewReader(b[len("before"):]))
			if err != nil {
				t.Fatal(err)
			}
			p, ok := cp.Content.(*packets.Publish)
			if !ok {
				t.Fatalf("decoded %T, want a PUBLISH", cp.Content)
			}
			if p.Topic != tt.topic || !bytes.Equal(p.Payload, tt.payload) || p.Retain != tt.retain || p.QoS != 0 {
				t.Errorf("got topic %q, %d payload bytes, retain %v, QoS %d; want %q, %d, %v, 0",
					p.Topic, len(p.Payload), p.Retain, p.QoS, tt.topic, len(tt.payload), tt.retain)
			}
			if n, ok := packetLen(b[len("before"):]); !ok || n != len(b)-len("before") {
				t.Errorf("fixed header says %d bytes (complete %v), packet is %d", n, ok, len(b)-len("before"))
			}
		})
	}
}

// Writing a QoS 0 PUBLISH allocates nothing once the pending buffer has
// grown: the packet is encoded straight into it.
func TestBufConn_QoS0WriteDoesNotAllocate(t *testing.T) {
	client, server := tcpPair(t)
	c := newBufConn(client)
	go func() { _, _ = io.Copy(io.Discard, server) }()
	payload := []byte(`{"timestamp":"2026-11-25T06:00:00","state":{"brightness":128}}`)
	allocs := testing.AllocsPerRun(200, func() {
		if err := c.writePublishQoS0("IoT2mqtt/v1/instances/x/devices/d/state", payload, true); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("allocations per QoS 0 write: %v, want 0", allocs)
	}
}
