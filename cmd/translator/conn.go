package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"sync"

	"github.com/eclipse/paho.golang/autopaho"
)

// dialBuffered connects like autopaho's default dialer (plain TCP, or TLS for
// the tls scheme) and wraps the connection in a bufConn.
func dialBuffered(ctx context.Context, cc autopaho.ClientConfig, u *url.URL) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, cc.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	tcp, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	c := withQuickAck(tcp)
	if u.Scheme == "tls" {
		tc := tls.Client(c, cc.TlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = tcp.Close()
			return nil, err
		}
		c = tc
	}
	return &bufConn{Conn: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

// bufConn buffers reads (paho reads every packet header a byte at a time,
// one syscall each) and sends each MQTT packet with one write. paho writes a
// packet as several Write calls under Lock (it checks for sync.Locker), so
// Write collects bytes until the fixed header's remaining length says the
// packet is complete and then writes it, returning that write's error.
type bufConn struct {
	net.Conn
	r      *bufio.Reader
	mu     sync.Mutex
	locked bool
	wbuf   []byte
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *bufConn) Lock() { c.mu.Lock(); c.locked = true }

func (c *bufConn) Unlock() {
	if len(c.wbuf) > 0 { // never expected: a packet shorter than its header says
		_, _ = c.Conn.Write(c.wbuf)
	}
	c.resetBuf()
	c.locked = false
	c.mu.Unlock()
}

func (c *bufConn) Write(p []byte) (int, error) {
	if !c.locked {
		return c.Conn.Write(p)
	}
	c.wbuf = append(c.wbuf, p...)
	if n, ok := packetLen(c.wbuf); !ok || len(c.wbuf) < n {
		return len(p), nil
	}
	_, err := c.Conn.Write(c.wbuf)
	c.resetBuf()
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *bufConn) resetBuf() {
	if cap(c.wbuf) > 256<<10 {
		c.wbuf = nil
		return
	}
	c.wbuf = c.wbuf[:0]
}

// packetLen is the total length of the MQTT packet that b starts with, once
// its fixed header (type byte and variable byte integer) is complete.
func packetLen(b []byte) (int, bool) {
	rem, mul := 0, 1
	for i := 1; i < len(b) && i <= 4; i++ {
		rem += int(b[i]&0x7f) * mul
		if b[i]&0x80 == 0 {
			return 1 + i + rem, true
		}
		mul *= 128
	}
	return 0, false
}
