package main

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// withRawIO wraps a TCP connection in a rawConn: reads and writes of the
// broker connection as system calls the Go scheduler does not see, and
// TCP_QUICKACK after every read.
//
// Quick ACKs: a broker with Nagle's algorithm on (mosquitto's default) holds
// its next packet to us until its last one is acknowledged; packets we do not
// answer (the PUBACKs of our QoS 1 publications) would wait for Linux's
// delayed ACK, up to 40 ms. TCP_QUICKACK does not stick, so it is set again
// after each read.
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
	rw := &rawConn{TCPConn: tc, rc: rc}
	rw.rd.fn, rw.wr.fn = rw.rd.read, rw.wr.write
	return rw
}

// rawConn does each direction's calls through a rawOp of its own.
type rawConn struct {
	*net.TCPConn
	rc     syscall.RawConn
	rd, wr rawOp
}

// rawOp is one direction of a rawConn: the buffer and outcome of the call
// in progress, and the callback bound to it once (a closure per call
// allocated twice per system call). The lock keeps net.Conn's promise that
// concurrent calls are safe; each direction has one caller at a time here
// anyway.
type rawOp struct {
	mu    sync.Mutex
	fn    func(fd uintptr) bool // read or write, bound to this rawOp
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

// read reads once into p and asks for a quick ACK; false to wait for data.
func (o *rawOp) read(fd uintptr) bool {
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&o.p[0])), uintptr(len(o.p)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		case 0:
			o.n = int(r)
			if o.n > 0 {
				one := int32(1)
				_, _, _ = syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_QUICKACK,
					uintptr(unsafe.Pointer(&one)), unsafe.Sizeof(one), 0)
			}
		}
		o.errno = e
		return true
	}
}

// write writes the rest of p; false to wait for room in the socket.
func (o *rawOp) write(fd uintptr) bool {
	for o.n < len(o.p) {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&o.p[o.n])), uintptr(len(o.p)-o.n))
		switch e {
		case 0:
			o.n += int(r)
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
