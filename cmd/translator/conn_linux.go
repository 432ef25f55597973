package main

import (
	"io"
	"net"
	"os"
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
	return &rawConn{TCPConn: tc, rc: rc}
}

type rawConn struct {
	*net.TCPConn
	rc syscall.RawConn
}

func (c *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false
			case 0:
				n = int(r)
				if n > 0 {
					one := int32(1)
					_, _, _ = syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_QUICKACK,
						uintptr(unsafe.Pointer(&one)), unsafe.Sizeof(one), 0)
				}
			}
			errno = e
			return true
		}
	})
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
	written := 0
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		for written < len(p) {
			r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[written])), uintptr(len(p)-written))
			switch e {
			case 0:
				written += int(r)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false
			default:
				errno = e
				return true
			}
		}
		return true
	})
	if err == nil && errno != 0 {
		err = os.NewSyscallError("write", errno)
	}
	return written, err
}
