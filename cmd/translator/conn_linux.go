package main

import (
	"net"
	"syscall"
)

// withQuickAck makes the socket acknowledge what it has read at once. A
// broker with Nagle's algorithm on (mosquitto's default) holds its next packet
// to us until its last one is acknowledged; packets we do not answer (the
// PUBACKs of our QoS 1 publications) would wait for Linux's delayed ACK, up
// to 40 ms. TCP_QUICKACK does not stick, so it is set again after each read.
func withQuickAck(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return &quickAckConn{TCPConn: tc, rc: rc}
}

type quickAckConn struct {
	*net.TCPConn
	rc syscall.RawConn
}

func (c *quickAckConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	if n > 0 {
		_ = c.rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
		})
	}
	return n, err
}
