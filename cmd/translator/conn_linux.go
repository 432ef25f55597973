package main

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// withRawIO wraps a TCP connection in a rawConn: reads and writes of the
// broker connection as system calls the Go scheduler does not see, and a
// TCP_QUICKACK before the reader waits, unless a write acknowledged what it
// read or is sure to (carryAcksWhile).
//
// Quick ACKs: a broker with Nagle's algorithm on (mosquitto's default) holds
// its next packet to us until its last one is acknowledged; packets we do not
// answer (the PUBACKs of our QoS 1 publications) would wait for Linux's
// delayed ACK, up to 40 ms. TCP_QUICKACK does not stick, so it is set again
// each time. It was set after every read: at 5000 messages/s with per-key
// topics that was 6.1 calls per message, each sending an ACK of its own that
// released one more small segment from the broker. Once per wait, and not
// at all when our write carried the ACK, it is 3.8 calls, and the broker's
// PUBACKs come in 4.7 reads per message instead of 6.1. Not asking while
// the PUBACK of an inbound message is still to be written took 1000
// messages/s from 3.3 calls per message to 2.3.
//
// Raw system calls: the first ordinary system call after the daemon was idle
// wakes the runtime's monitor thread, which then polls every 20 µs for a
// while. At 1000 messages/s the daemon goes idle twice per message (after
// its publication, and after the broker's acknowledgement), and those
// wakeups were five thread switches per message. The socket is non-blocking
// and the calls return at once (EAGAIN waits in the network poller as
// before), so nothing needs the monitor to take the processor back from them.
func withRawIO(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	rw := &rawConn{TCPConn: tc, rc: rc, quickAck: quickAck, writeDue: func() bool { return false }}
	rw.rd.fn, rw.wr.fn = rw.read, rw.write
	return rw
}

// rawConn does each direction's calls through a rawOp of its own.
//
// Quick ACKs go out only when the reader is about to wait for data and no
// write has carried the acknowledgement meanwhile: every segment we send
// acknowledges all that was read before it, and one ACK after a run of
// reads does for all of them. readSeq counts the reads that returned data;
// ackedSeq is the last of them known to be acknowledged.
type rawConn struct {
	*net.TCPConn
	rc       syscall.RawConn
	rd, wr   rawOp
	readSeq  atomic.Uint64
	ackedSeq atomic.Uint64
	quickAck func(fd uintptr) // the package's quickAck; tests count the calls
	writeDue func() bool      // see carryAcksWhile
}

// carryAcksWhile lets the reader wait without a quick ACK while writeDue
// reports a write that is sure to come: it will acknowledge what was read.
// Set once, before the connection is used.
func (c *rawConn) carryAcksWhile(writeDue func() bool) { c.writeDue = writeDue }

// rawOp is one direction of a rawConn: the buffer and outcome of the call
// in progress, and the callback bound to it once (a closure per call
// allocated twice per system call). The lock keeps net.Conn's promise that
// concurrent calls are safe; each direction has one caller at a time here
// anyway.
type rawOp struct {
	mu    sync.Mutex
	fn    func(fd uintptr) bool // the rawConn's read or write, bound once
	p     []byte
	n     int
	errno syscall.Errno
}

// do runs fn on p through call (RawConn's Read or Write) and returns how
// many bytes were done and the system call's error number.
func (o *rawOp) do(p []byte, call func(func(uintptr) bool) error) (int, syscall.Errno, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.p, o.n, o.errno = p, 0, 0
	err := call(o.fn)
	o.p = nil
	return o.n, o.errno, err
}

// read reads once into the read op's buffer; false to wait for data. Before
// waiting it acknowledges what was read, unless a write already did.
func (c *rawConn) read(fd uintptr) bool {
	o := &c.rd
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&o.p[0])), uintptr(len(o.p)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if seq := c.readSeq.Load(); c.ackedSeq.Load() < seq && !c.writeDue() {
				c.quickAck(fd)
				c.acked(seq)
			}
			return false
		case 0:
			o.n = int(r)
			if o.n > 0 {
				c.readSeq.Add(1)
			}
		}
		o.errno = e
		return true
	}
}

// acked records that the reads up to seq are acknowledged.
func (c *rawConn) acked(seq uint64) {
	for {
		cur := c.ackedSeq.Load()
		if cur >= seq || c.ackedSeq.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// write writes the rest of the write op's buffer; false to wait for room in
// the socket. The first segment acknowledges every read that returned
// before the call.
func (c *rawConn) write(fd uintptr) bool {
	o := &c.wr
	seq := c.readSeq.Load()
	for o.n < len(o.p) {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&o.p[o.n])), uintptr(len(o.p)-o.n))
		switch e {
		case 0:
			o.n += int(r)
			c.acked(seq)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			o.errno = e
			return true
		}
	}
	return true
}

func (c *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, errno, err := c.rd.do(p, c.rc.Read)
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, os.NewSyscallError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *rawConn) Write(p []byte) (int, error) {
	n, errno, err := c.wr.do(p, c.rc.Write)
	if err == nil && errno != 0 {
		err = os.NewSyscallError("write", errno)
	}
	return n, err
}
