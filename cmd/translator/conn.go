package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/packets"
)

// dialBuffered connects like autopaho's default dialer (plain TCP, or TLS for
// the tls scheme) and wraps the connection in a bufConn.
func dialBuffered(ctx context.Context, cc autopaho.ClientConfig, u *url.URL) (*bufConn, error) {
	ctx, cancel := context.WithTimeout(ctx, cc.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	tcp, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	raw := withRawIO(tcp)
	c := raw
	if u.Scheme == "tls" {
		tc := tls.Client(c, cc.TlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = tcp.Close()
			return nil, err
		}
		c = tc
	}
	bc := newBufConn(c)
	if r, ok := raw.(ackCarrier); ok {
		r.carryAcksWhile(bc.acksHeld)
	}
	return bc, nil
}

// ackCarrier is a connection that can leave the acknowledgement of what it
// read to a write that is sure to come (see rawConn).
type ackCarrier interface {
	carryAcksWhile(writeDue func() bool)
}

// maxPendingWrite bounds the packets waiting to be written; a writer past it
// waits, so a broker that stops reading holds back publishing instead of
// growing memory.
const maxPendingWrite = 256 << 10

// bufConn buffers reads (paho reads every packet header a byte at a time,
// one syscall each) and combines writes. paho writes a packet as several
// Write calls under Lock (it checks for sync.Locker); Write collects bytes
// until the fixed header's remaining length says the packet is complete and
// appends it to the pending bytes. After Unlock, a goroutine that finds no
// write in progress becomes the writer: it writes everything pending with
// one system call, and again while others appended meanwhile. When idle a
// packet goes out at once from the goroutine that made it; under load many
// packets share a write and a TCP segment, which saves CPU here and in the
// broker. A failed write closes the connection (so the MQTT client notices
// on its reading side too) and is returned by every later Write.
type bufConn struct {
	net.Conn
	r *bufio.Reader

	mu       sync.Mutex // paho's per-packet lock
	pkt      []byte     // the packet being assembled under mu
	wroteAck bool       // the packet completed under mu is a PUBACK

	wmu         sync.Mutex
	wcond       *sync.Cond    // signalled when pending shrinks or err is set
	pending     []byte        // complete packets waiting to be written
	spare       []byte        // the last written buffer, reused (writer only)
	writing     bool          // a goroutine is writing pending
	corked      int           // while > 0, small amounts of pending bytes wait for uncork
	holdingAcks bool          // a PUBACK alone waits in pending (see holdAcks)
	acksWaiting int           // PUBACKs waiting in pending because of holdingAcks
	err         error         // first write error; sticky
	writes      *atomic.Int64 // counts writes to Conn, when set
}

// corkFlushBytes is how much may wait while corked before it is written anyway.
const corkFlushBytes = 32 << 10

// cork makes writes wait (up to corkFlushBytes) until the matching uncork,
// so a burst of packets shares system calls. A goroutine that holds a cork
// must flush it before it waits for an answer to a packet it wrote.
func (c *bufConn) cork() {
	c.wmu.Lock()
	c.corked++
	c.wmu.Unlock()
}

// uncork ends a cork and writes what waited.
func (c *bufConn) uncork() {
	c.wmu.Lock()
	c.corked--
	c.wmu.Unlock()
	c.writePending(false)
}

// maxWaitingAcks bounds the PUBACKs that wait in the pending bytes (see
// holdAcks). The broker sends only so many QoS 1 messages before their
// acknowledgements (Mosquitto: 20), so in a flood they must keep flowing
// while the engine works: the PUBACK past the bound is written at once and
// carries the waiting ones along.
const maxWaitingAcks = 8

// holdAcks makes PUBACKs written through Lock wait in the pending bytes,
// until releaseAcks or until any other packet is written (it carries them
// along), at most maxWaitingAcks of them. Unlike a cork it never holds back
// another packet.
func (c *bufConn) holdAcks() {
	c.wmu.Lock()
	c.holdingAcks = true
	c.wmu.Unlock()
}

// releaseAcks ends holdAcks and writes what waits, unless a cork holds it.
func (c *bufConn) releaseAcks() {
	if c.endHold() {
		c.writePending(false)
	}
}

// endHold ends holdAcks and reports whether it was on.
func (c *bufConn) endHold() (held bool) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	held, c.holdingAcks = c.holdingAcks, false
	return held
}

// acksHeld reports whether PUBACKs are being held (holdAcks): an inbound
// QoS 1 message was taken, and its PUBACK will be written once the engine
// has handled it, or before the engine waits for anything.
func (c *bufConn) acksHeld() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.holdingAcks
}

// ackWaits reports whether a PUBACK just appended may wait (see holdAcks),
// and counts it if so.
func (c *bufConn) ackWaits() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.holdingAcks || c.acksWaiting >= maxWaitingAcks {
		return false
	}
	c.acksWaiting++
	return true
}

// flush writes what waits now, in a cork or as held PUBACKs, and ends the
// hold (holdAcks); the cork stays. A goroutine that is about to wait for
// the broker calls it: the broker's answers may depend on what waited, and
// the reader counts on held PUBACKs leaving before anyone waits.
func (c *bufConn) flush() {
	c.endHold()
	c.writePending(true)
}

func newBufConn(c net.Conn) *bufConn {
	b := &bufConn{Conn: c, r: bufio.NewReaderSize(c, 64<<10)}
	b.wcond = sync.NewCond(&b.wmu)
	return b
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// ReadByte lets the packet decoder read a fixed header byte by byte without
// allocating a buffer for each (packets.readByte).
func (c *bufConn) ReadByte() (byte, error) { return c.r.ReadByte() }

func (c *bufConn) Lock() { c.mu.Lock() }

func (c *bufConn) Unlock() {
	if len(c.pkt) > 0 { // never expected: a packet shorter than its header says
		_ = c.appendPending(c.appendPkt)
	}
	c.resetPkt()
	ack := c.wroteAck
	c.wroteAck = false
	c.mu.Unlock()
	if ack && c.ackWaits() {
		return // leaves with the next write (see holdAcks)
	}
	c.writePending(false)
}

// writePacket writes one complete encoded packet.
func (c *bufConn) writePacket(p []byte) error {
	return c.writeWhole(func(b []byte) []byte { return append(b, p...) })
}

// writeWhole appends one complete packet, as encode appends it, to the
// pending bytes and writes them. It takes paho's packet lock, so the packet
// never lands inside one another goroutine is assembling.
func (c *bufConn) writeWhole(encode func([]byte) []byte) error {
	c.mu.Lock()
	err := c.appendPending(encode)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	c.writePending(false)
	return c.writeErr()
}

// Write takes a piece of a packet; the caller holds Lock, as paho does for
// every packet it writes (whole packets from elsewhere go through
// writePacket).
func (c *bufConn) Write(p []byte) (int, error) {
	c.pkt = append(c.pkt, p...)
	if n, ok := packetLen(c.pkt); !ok || len(c.pkt) < n {
		return len(p), nil
	}
	c.wroteAck = c.pkt[0]>>4 == packets.PUBACK
	err := c.appendPending(c.appendPkt)
	c.resetPkt()
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// writePublishQoS0 writes a QoS 0 PUBLISH (MQTT 5, no properties), encoded
// straight into the pending bytes: no packet value, no intermediate buffer.
func (c *bufConn) writePublishQoS0(topic string, payload []byte, retain bool) error {
	return c.writeWhole(func(b []byte) []byte { return appendPublish(b, topic, payload, 0, retain, false, 0) })
}

// appendPublish appends the MQTT 5 encoding of a PUBLISH without
// properties: fixed header, topic, the packet identifier (QoS 1 and 2), an
// empty property list, payload.
func appendPublish(b []byte, topic string, payload []byte, qos byte, retain, dup bool, id uint16) []byte {
	header := byte(packets.PUBLISH<<4) | qos<<1
	if retain {
		header |= 1
	}
	if dup {
		header |= 1 << 3
	}
	rem := 2 + len(topic) + 1 + len(payload)
	if qos > 0 {
		rem += 2
	}
	b = append(b, header)
	for {
		d := byte(rem % 128)
		rem /= 128
		if rem > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if rem == 0 {
			break
		}
	}
	b = append(b, byte(len(topic)>>8), byte(len(topic)))
	b = append(b, topic...)
	if qos > 0 {
		b = append(b, byte(id>>8), byte(id))
	}
	b = append(b, 0) // property length
	return append(b, payload...)
}

// appendPending adds one complete packet, as encode appends it, to the
// pending bytes, waiting while too much is pending. It returns the
// connection's write error, if any.
func (c *bufConn) appendPending(encode func([]byte) []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for c.err == nil && len(c.pending) > maxPendingWrite {
		c.wcond.Wait()
	}
	if c.err != nil {
		return c.err
	}
	c.pending = encode(c.pending)
	return nil
}

// appendPkt appends the packet assembled from paho's Write calls.
func (c *bufConn) appendPkt(b []byte) []byte { return append(b, c.pkt...) }

func (c *bufConn) writeErr() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.err
}

// writePending writes what is pending unless another goroutine is already
// doing so (it will write this too) or, unless forced, a cork holds it.
func (c *bufConn) writePending(force bool) {
	c.wmu.Lock()
	if c.writing {
		c.wmu.Unlock()
		return
	}
	if c.corked > 0 && !force && len(c.pending) < corkFlushBytes {
		c.wmu.Unlock()
		return
	}
	c.writing = true
	for len(c.pending) > 0 && c.err == nil {
		out := c.pending
		c.pending = c.spare[:0]
		c.acksWaiting = 0
		c.wcond.Broadcast()
		c.wmu.Unlock()
		_, err := c.Conn.Write(out)
		if c.writes != nil {
			c.writes.Add(1)
		}
		c.wmu.Lock()
		c.spare = nil
		if cap(out) <= maxPendingWrite {
			c.spare = out
		}
		if err != nil {
			c.err = err
			_ = c.Conn.Close()
		}
	}
	c.writing = false
	c.wcond.Broadcast()
	c.wmu.Unlock()
}

// Close writes what is still pending (a DISCONNECT, say), waiting at most
// closeWriteWait for a broker that does not read, and closes the connection.
func (c *bufConn) Close() error {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(closeWriteWait))
	c.wmu.Lock()
	for c.writing {
		c.wcond.Wait()
	}
	c.wmu.Unlock()
	c.writePending(true) // a cork no longer holds anything back
	return c.Conn.Close()
}

// closeWriteWait bounds the last write on Close.
const closeWriteWait = 2 * time.Second

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
