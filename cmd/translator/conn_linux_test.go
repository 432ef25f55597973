package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// The raw-system-call connection behaves like the net.Conn it wraps: data
// arrives whole and in order both ways, a write larger than the socket
// buffers waits for the peer to read, a closed peer reads as io.EOF, and a
// read deadline still ends a read.
func TestRawConn_BehavesLikeTheTCPConnection(t *testing.T) {
	client, server := tcpPair(t)
	c := withRawIO(client)
	if _, ok := c.(*rawConn); !ok {
		t.Fatalf("withRawIO(TCP) = %T, want *rawConn", c)
	}

	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB: more than the socket buffers take
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(server, int64(len(big))))
		got <- b
	}()
	if n, err := c.Write(big); err != nil || n != len(big) {
		t.Fatalf("Write: n=%d err=%v, want %d, nil", n, err, len(big))
	}
	if b := <-got; !bytes.Equal(b, big) {
		t.Fatalf("peer read %d bytes, not the %d written", len(b), len(big))
	}

	if _, err := server.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := io.ReadAtLeast(c, buf, 5); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("Read: %q, %v; want hello", buf[:n], err)
	}

	if err := c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	var ne net.Error
	if _, err := c.Read(buf); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read past the deadline: got %v, want a timeout", err)
	}
	_ = c.SetReadDeadline(time.Time{})

	server.Close()
	if _, err := c.Read(buf); !errors.Is(err, io.EOF) {
		t.Fatalf("Read after the peer closed: got %v, want io.EOF", err)
	}
	if _, err := c.Write(bytes.Repeat([]byte("x"), 1<<20)); err == nil {
		// The first write after a close may still be accepted by the kernel.
		if _, err := c.Write([]byte("x")); err == nil {
			t.Errorf("writes to a closed peer kept succeeding")
		}
	}
}

// Reads and writes allocate nothing: the callbacks are bound once per
// connection (a closure per call allocated twice per system call).
func TestRawConn_CallsDoNotAllocate(t *testing.T) {
	client, server := tcpPair(t)
	c := withRawIO(client)
	msg, buf := []byte("hello"), make([]byte, 64)
	peer := make([]byte, 64)
	write := testing.AllocsPerRun(100, func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(server, peer[:len(msg)]); err != nil {
			t.Fatal(err)
		}
	})
	read := testing.AllocsPerRun(100, func() {
		if _, err := server.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
	})
	if write != 0 || read != 0 {
		t.Errorf("allocations per call: write %v, read %v; want 0 and 0", write, read)
	}
}

// The reader asks for a quick ACK once before it waits, for everything it
// read since the last one, and not at all when a write carried the
// acknowledgement in between.
func TestRawConn_QuickAckBeforeWaitingUnlessAWriteCarriedIt(t *testing.T) {
	client, server := tcpPair(t)
	c := withRawIO(client).(*rawConn)
	var acks int
	c.quickAck = func(fd uintptr) { acks++; quickAck(fd) } // the reader's goroutine only
	buf := make([]byte, 8)
	receive := func(s string) {
		t.Helper()
		if _, err := server.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf[:len(s)]); err != nil || string(buf[:len(s)]) != s {
			t.Fatalf("read %q, %v; want %q", buf[:len(s)], err, s)
		}
	}
	wait := func() { // read until the deadline: the reader waits for data
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		defer c.SetReadDeadline(time.Time{})
		var ne net.Error
		if _, err := c.Read(buf); !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("Read: %v, want a timeout", err)
		}
	}

	receive("a")
	receive("b")
	wait()
	if acks != 1 {
		t.Fatalf("after two reads and a wait: %d quick ACKs, want 1", acks)
	}
	wait()
	if acks != 1 {
		t.Fatalf("after a wait with nothing read: %d quick ACKs, want still 1", acks)
	}
	receive("c")
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(server, buf[:1]); err != nil {
		t.Fatal(err)
	}
	wait()
	if acks != 1 {
		t.Fatalf("after a read answered by a write: %d quick ACKs, want still 1", acks)
	}
	receive("d")
	wait()
	if acks != 2 {
		t.Fatalf("after another read and a wait: %d quick ACKs, want 2", acks)
	}
}
