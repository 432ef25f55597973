package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

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

// The daemon's own PUBLISH encoding is what paho's decoder reads back:
// topic, payload, QoS, packet identifier, retain and DUP flags, for payloads
// whose length needs one to three bytes of remaining length, and an empty
// payload (a cleared retained topic).
func TestAppendPublish_DecodesAsSent(t *testing.T) {
	tests := []struct {
		name        string
		topic       string
		payload     []byte
		qos         byte
		retain, dup bool
		id          uint16
	}{
		{"small retained", "IoT2mqtt/v1/instances/x/devices/d/state", []byte(`{"a":1}`), 0, true, false, 0},
		{"empty payload", "IoT2mqtt/v1/instances/x/devices/d/state/brightness", nil, 0, true, false, 0},
		{"two length bytes", "t", bytes.Repeat([]byte("p"), 200), 0, false, false, 0},
		{"three length bytes", "t/long", bytes.Repeat([]byte("q"), 20000), 0, false, false, 0},
		{"qos 1", "t/q1", []byte("on"), 1, true, false, 0xabcd},
		{"qos 1 resent", "t/q1", bytes.Repeat([]byte("r"), 300), 1, false, true, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := appendPublish([]byte("before"), tt.topic, tt.payload, tt.qos, tt.retain, tt.dup, tt.id)
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
			if p.Topic != tt.topic || !bytes.Equal(p.Payload, tt.payload) || p.QoS != tt.qos || p.PacketID != tt.id ||
				p.Retain != tt.retain || p.Duplicate != tt.dup {
				t.Errorf("got topic %q, %d payload bytes, QoS %d, id %d, retain %v, dup %v; want %q, %d, %d, %d, %v, %v",
					p.Topic, len(p.Payload), p.QoS, p.PacketID, p.Retain, p.Duplicate,
					tt.topic, len(tt.payload), tt.qos, tt.id, tt.retain, tt.dup)
			}
			// Byte for byte what paho's own encoder writes.
			var want bytes.Buffer
			pp := &packets.Publish{Topic: tt.topic, Payload: tt.payload, QoS: tt.qos, Retain: tt.retain, Duplicate: tt.dup, PacketID: tt.id}
			if _, err := pp.WriteTo(&want); err != nil {
				t.Fatal(err)
			}
			if got := b[len("before"):]; !bytes.Equal(got, want.Bytes()) {
				t.Errorf("encoding differs from paho's:\n got %x\nwant %x", got, want.Bytes())
			}
			if n, ok := packetLen(b[len("before"):]); !ok || n != len(b)-len("before") {
				t.Errorf("fixed header says %d bytes (complete %v), packet is %d", n, ok, len(b)-len("before"))
			}
		})
	}
}

// No writer allocates once the pending buffer has grown: a QoS 0 PUBLISH
// is encoded straight into it, and stored packets and paho's pieces are
// copied into it.
func TestBufConn_WritesDoNotAllocate(t *testing.T) {
	client, server := tcpPair(t)
	c := newBufConn(client)
	go func() { _, _ = io.Copy(io.Discard, server) }()
	payload := []byte(`{"timestamp":"2026-11-25T06:00:00","state":{"brightness":128}}`)
	topic := "IoT2mqtt/v1/instances/x/devices/d/state"
	packet := appendPublish(nil, topic, payload, 1, true, false, 9)
	for _, w := range []struct {
		name  string
		write func() error
	}{
		{"QoS 0 publication", func() error { return c.writePublishQoS0(topic, payload, true) }},
		{"stored packet", func() error { return c.writePacket(packet) }},
		{"paho's pieces under Lock", func() error {
			c.Lock()
			_, err := c.Write(packet[:2])
			if err == nil {
				_, err = c.Write(packet[2:])
			}
			c.Unlock()
			return err
		}},
	} {
		allocs := testing.AllocsPerRun(200, func() {
			if err := w.write(); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per write, want 0", w.name, allocs)
		}
	}
}

// pendingLen is how many bytes wait to be written.
func (c *bufConn) pendingLen() int {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return len(c.pending)
}

// A held PUBACK waits until another packet is written, which carries it, or
// until the holds are released or flushed; holds never keep back other
// packets, and at most maxWaitingAcks PUBACKs wait.
func TestBufConn_HeldAckLeavesWithTheNextWrite(t *testing.T) {
	client, server := tcpPair(t)
	c := newBufConn(client)
	_ = server.SetReadDeadline(time.Now().Add(10 * time.Second)) // a PUBACK held for good fails, not hangs
	read := func(want string) {
		t.Helper()
		cp, err := packets.ReadPacket(server)
		if err != nil {
			t.Fatalf("reading %s: %v", want, err)
		}
		var got string
		switch p := cp.Content.(type) {
		case *packets.Puback:
			got = fmt.Sprintf("PUBACK %d", p.PacketID)
		case *packets.Publish:
			got = "PUBLISH " + string(p.Payload)
		}
		if got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}

	c.holdAcks()
	if _, err := packets.WritePubackSuccess(c, 5); err != nil {
		t.Fatal(err)
	}
	if n := c.pendingLen(); n != 4 {
		t.Fatalf("%d bytes pending after a held PUBACK, want its 4", n)
	}
	if err := writePacket(c, "t", "carrier"); err != nil { // written at once despite the hold
		t.Fatal(err)
	}
	read("PUBACK 5")
	read("PUBLISH carrier")

	c.holdAcks() // already holding: no change
	if _, err := packets.WritePubackSuccess(c, 6); err != nil {
		t.Fatal(err)
	}
	if n := c.pendingLen(); n != 4 {
		t.Fatalf("%d bytes pending after a held PUBACK, want its 4", n)
	}
	c.releaseAcks()
	read("PUBACK 6")
	if n := c.pendingLen(); n != 0 {
		t.Errorf("%d bytes pending after releaseAcks", n)
	}

	if _, err := packets.WritePubackSuccess(c, 7); err != nil { // no hold: out at once
		t.Fatal(err)
	}
	read("PUBACK 7")

	// At most maxWaitingAcks wait; the next one goes at once, with them.
	c.holdAcks()
	for id := range uint16(maxWaitingAcks) {
		if _, err := packets.WritePubackSuccess(c, 100+id); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.pendingLen(); n != 4*maxWaitingAcks {
		t.Fatalf("%d bytes pending after %d held PUBACKs, want %d", n, maxWaitingAcks, 4*maxWaitingAcks)
	}
	if _, err := packets.WritePubackSuccess(c, 100+maxWaitingAcks); err != nil {
		t.Fatal(err)
	}
	for id := range maxWaitingAcks + 1 {
		read(fmt.Sprintf("PUBACK %d", 100+id))
	}
	if n := c.pendingLen(); n != 0 {
		t.Errorf("%d bytes pending after the PUBACK past the bound", n)
	}
	c.releaseAcks()

	// flush (a goroutine about to wait for the broker) writes held PUBACKs
	// and ends the hold: the next PUBACK goes at once.
	c.holdAcks()
	if _, err := packets.WritePubackSuccess(c, 200); err != nil {
		t.Fatal(err)
	}
	c.flush()
	read("PUBACK 200")
	if c.acksHeld() {
		t.Error("still holding PUBACKs after flush")
	}
	if _, err := packets.WritePubackSuccess(c, 201); err != nil {
		t.Fatal(err)
	}
	read("PUBACK 201")
}
