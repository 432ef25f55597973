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
	r := newQuickAckRig(t)
	r.receive("a")
	r.receive("b")
	r.wait()
	if r.acks != 1 {
		t.Fatalf("after two reads and a wait: %d quick ACKs, want 1", r.acks)
	}
	r.wait()
	if r.acks != 1 {
		t.Fatalf("after a wait with nothing read: %d quick ACKs, want still 1", r.acks)
	}
	r.receive("c")
	if _, err := r.c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r.server, r.buf[:1]); err != nil {
		t.Fatal(err)
	}
	r.wait()
	if r.acks != 1 {
		t.Fatalf("after a read answered by a write: %d quick ACKs, want still 1", r.acks)
	}
	r.receive("d")
	r.wait()
	if r.acks != 2 {
		t.Fatalf("after another read and a wait: %d quick ACKs, want 2", r.acks)
	}
}

// While a write is sure to come (a PUBACK the engine holds), the reader
// waits without a quick ACK and leaves the acknowledgement to that write;
// once none is due, it asks for the ACK as before.
func TestRawConn_NoQuickAckWhileAWriteIsDue(t *testing.T) {
	r := newQuickAckRig(t)
	due := true
	r.c.carryAcksWhile(func() bool { return due })
	r.receive("p")
	r.wait()
	if r.acks != 0 {
		t.Fatalf("waiting while a write is due: %d quick ACKs, want 0", r.acks)
	}
	due = false
	r.wait()
	if r.acks != 1 {
		t.Fatalf("waiting once no write is due: %d quick ACKs, want 1", r.acks)
	}
}

// quickAckRig is a raw connection that counts its quick ACKs, and its peer.
type quickAckRig struct {
	t      *testing.T
	c      *rawConn
	server net.Conn
	acks   int // the reader's goroutine (the test's) only
	buf    []byte
}

func newQuickAckRig(t *testing.T) *quickAckRig {
	client, server := tcpPair(t)
	r := &quickAckRig{t: t, c: withRawIO(client).(*rawConn), server: server, buf: make([]byte, 8)}
	r.c.quickAck = func(fd uintptr) { r.acks++; quickAck(fd) }
	return r
}

// receive has the peer send s and reads it.
func (r *quickAckRig) receive(s string) {
	r.t.Helper()
	if _, err := r.server.Write([]byte(s)); err != nil {
		r.t.Fatal(err)
	}
	if _, err := io.ReadFull(r.c, r.buf[:len(s)]); err != nil || string(r.buf[:len(s)]) != s {
		r.t.Fatalf("read %q, %v; want %q", r.buf[:len(s)], err, s)
	}
}

// wait reads until a short deadline passes: the reader waits for data that
// does not come.
func (r *quickAckRig) wait() {
	r.t.Helper()
	_ = r.c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	defer r.c.SetReadDeadline(time.Time{})
	var ne net.Error
	if _, err := r.c.Read(r.buf); !errors.As(err, &ne) || !ne.Timeout() {
		r.t.Fatalf("Read: %v, want a timeout", err)
	}
}
