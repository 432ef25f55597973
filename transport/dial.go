package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// readBufferSize is the read buffer of a broker connection. paho reads a
// packet's fixed header a byte at a time; through the buffer a burst of
// packets costs one system call instead of several per packet.
const readBufferSize = 16 << 10

// bufferedConn is a broker connection with buffered reads and whole-packet
// writes. paho writes every packet under the connection's lock when the
// connection is a sync.Locker (packets.ControlPacket.WriteTo), as several
// Write calls; bufferedConn collects them while locked and writes the
// packet with one system call in Unlock, so packets from concurrent
// publishers never interleave. It counts its writes
// (translator_mqtt_writes_total).
type bufferedConn struct {
	net.Conn
	r        *bufio.Reader
	quickAck func() // before a read that may wait; nil: not available

	mu      sync.Mutex
	locked  bool   // under mu: Write collects into pending
	pending []byte // the packet being written, under mu
	err     error  // the first write error; sticky
	writes  *atomic.Int64
}

// Read reads from the buffer; when it is empty, the socket is asked for a
// quick ACK before the read waits for data (see quickAcker).
func (c *bufferedConn) Read(p []byte) (int, error) {
	if c.quickAck != nil && c.r.Buffered() == 0 {
		c.quickAck()
	}
	return c.r.Read(p)
}

// Lock starts a packet: Write collects until Unlock.
func (c *bufferedConn) Lock() {
	c.mu.Lock()
	c.locked = true
}

// Unlock writes the collected packet. A failed write closes the connection,
// so paho's reader notices and autopaho reconnects; the session resends
// what was in flight.
func (c *bufferedConn) Unlock() {
	if len(c.pending) > 0 && c.err == nil {
		c.writes.Add(1)
		if _, err := c.Conn.Write(c.pending); err != nil {
			c.err = err
			_ = c.Conn.Close()
		}
	}
	c.pending = c.pending[:0]
	c.locked = false
	c.mu.Unlock()
}

// Write collects p while locked; otherwise it writes p at once.
func (c *bufferedConn) Write(p []byte) (int, error) {
	if c.locked {
		if c.err != nil {
			return 0, c.err
		}
		c.pending = append(c.pending, p...)
		return len(p), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// dialBuffered opens a connection to u (tcp or tls scheme) for autopaho's
// AttemptConnection hook.
func dialBuffered(ctx context.Context, timeout time.Duration, tc *tls.Config, u *url.URL, writes *atomic.Int64) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	tcp, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	conn := tcp
	if u.Scheme == "tls" {
		tlsConn := tls.Client(tcp, tc)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			_ = tcp.Close()
			return nil, err
		}
		conn = tlsConn
	}
	return &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, readBufferSize), quickAck: quickAcker(tcp), writes: writes}, nil
}
