package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"sync/atomic"
	"time"
)

// readBufferSize is the read buffer of a broker connection. paho reads a
// packet's fixed header a byte at a time; through the buffer a burst of
// packets costs one system call instead of several per packet.
const readBufferSize = 16 << 10

// bufferedConn is a broker connection with buffered reads that counts its
// writes (translator_mqtt_writes_total).
type bufferedConn struct {
	net.Conn
	r      *bufio.Reader
	writes *atomic.Int64
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *bufferedConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// dialBuffered opens a connection to u (tcp or tls scheme) for autopaho's
// AttemptConnection hook.
func dialBuffered(ctx context.Context, timeout time.Duration, tc *tls.Config, u *url.URL, writes *atomic.Int64) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var conn net.Conn
	var err error
	if u.Scheme == "tls" {
		d := tls.Dialer{Config: tc}
		conn, err = d.DialContext(ctx, "tcp", u.Host)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", u.Host)
	}
	if err != nil {
		return nil, err
	}
	return &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, readBufferSize), writes: writes}, nil
}
