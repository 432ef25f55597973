package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"sync"
	"time"

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
	return newBufConn(c), nil
}

// maxPendingWrite bounds the packets waiting for the flusher; a writer past
// it waits, so a broker that stops reading holds back publishing instead of
// growing memory.
const maxPendingWrite = 256 << 10

// bufConn buffers reads (paho reads every packet header a byte at a time,
// one syscall each) and batches writes: paho writes a packet as several
// Write calls under Lock (it checks for sync.Locker), so Write collects
// bytes until the fixed header's remaining length says the packet is
// complete and then queues it; one flusher goroutine writes everything
// queued with one system call. Under load many packets share a write (and a
// TCP segment), which saves CPU here and in the broker; when idle a packet
// goes out at once. A failed write is returned by every later Write and
// closes the connection, so the MQTT client sees it on both sides.
type bufConn struct {
	net.Conn
	r *bufio.Reader

	mu     sync.Mutex // paho's per-packet lock
	locked bool
	pkt    []byte // the packet being assembled under mu

	wmu     sync.Mutex
	wcond   *sync.Cond // signalled when pending shrinks or err is set
	pending []byte     // complete packets waiting for the flusher
	spare   []byte     // the flusher's last written buffer, reused
	err     error      // first write error; sticky
	kick    chan struct{}
	closed  chan struct{} // closed by Close
	flushed chan struct{} // closed when the flusher exits
	once    sync.Once
}

func newBufConn(c net.Conn) *bufConn {
	b := &bufConn{Conn: c, r: bufio.NewReaderSize(c, 64<<10), kick: make(chan struct{}, 1),
		closed: make(chan struct{}), flushed: make(chan struct{})}
	b.wcond = sync.NewCond(&b.wmu)
	go b.flush()
	return b
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *bufConn) Lock() { c.mu.Lock(); c.locked = true }

func (c *bufConn) Unlock() {
	if len(c.pkt) > 0 { // never expected: a packet shorter than its header says
		_ = c.enqueue(c.pkt)
	}
	c.resetPkt()
	c.locked = false
	c.mu.Unlock()
}

func (c *bufConn) Write(p []byte) (int, error) {
	if !c.locked {
		if err := c.enqueue(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	c.pkt = append(c.pkt, p...)
	if n, ok := packetLen(c.pkt); !ok || len(c.pkt) < n {
		return len(p), nil
	}
	err := c.enqueue(c.pkt)
	c.resetPkt()
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// enqueue appends b for the flusher, waiting while too much is pending.
func (c *bufConn) enqueue(b []byte) error {
	c.wmu.Lock()
	for c.err == nil && len(c.pending) > maxPendingWrite {
		c.wcond.Wait()
	}
	if c.err != nil {
		err := c.err
		c.wmu.Unlock()
		return err
	}
	c.pending = append(c.pending, b...)
	c.wmu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return nil
}

// flush writes whatever is pending until the connection is closed, then
// writes what is left (a DISCONNECT, say) and exits.
func (c *bufConn) flush() {
	defer close(c.flushed)
	for {
		select {
		case <-c.kick:
			if !c.drain() {
				return
			}
		case <-c.closed:
			c.drain()
			return
		}
	}
}

// drain writes pending packets until none are left; false after a write
// error, which it records and answers by closing the connection.
func (c *bufConn) drain() bool {
	for {
		c.wmu.Lock()
		if len(c.pending) == 0 {
			c.wmu.Unlock()
			return true
		}
		out := c.pending
		c.pending = c.spare[:0]
		c.wcond.Broadcast()
		c.wmu.Unlock()
		_, err := c.Conn.Write(out)
		if cap(out) <= maxPendingWrite {
			c.spare = out // the flusher alone touches spare
		} else {
			c.spare = nil
		}
		if err != nil {
			c.wmu.Lock()
			c.err = err
			c.wcond.Broadcast()
			c.wmu.Unlock()
			_ = c.Conn.Close()
			return false
		}
	}
}

// Close lets the flusher write what is pending (at most closeFlushWait),
// then closes the connection.
func (c *bufConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	select {
	case <-c.flushed:
	case <-time.After(closeFlushWait):
	}
	return c.Conn.Close()
}

// closeFlushWait bounds how long Close waits for pending packets.
const closeFlushWait = 2 * time.Second

func (c *bufConn) resetPkt() {
	if cap(c.pkt) > 256<<10 {
		c.pkt = nil
		return
	}
	c.pkt = c.pkt[:0]
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
