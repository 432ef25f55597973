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

// Packets written from several goroutines, some in pieces under paho's lock
// and some whole, arrive whole, in order per writer, and Close sends what is
// still pending.
func TestBufConn_BatchesWholePacketsInOrder(t *testing.T) {
	client, server := tcpPair(t)
	c := newBufConn(client)
	const writers, each = 4, 500
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		write := writePacket
		if w%2 == 1 {
			write = writeEncoded
		}
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
