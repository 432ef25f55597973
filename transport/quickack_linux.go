package transport

import (
	"net"
	"syscall"
)

// quickAcker returns a function that puts c's TCP socket into quick-ACK
// mode for the data it receives next, or nil when c is not TCP.
//
// Mosquitto sends with Nagle's algorithm by default (set_tcp_nodelay is
// false): it holds a small packet, such as the next message for the
// daemon, while an earlier one has not been acknowledged at the TCP level.
// A PUBACK for the daemon's publication is such an earlier packet, and
// nothing the daemon writes answers it, so the kernel's delayed ACK (up to
// 40 ms) would hold the broker's next packet that long. Asking for a quick
// ACK before each read lets the kernel acknowledge at once. Quick-ACK mode
// is not permanent, hence once per read that may wait for data.
func quickAcker(c net.Conn) func() {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	set := func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1) }
	return func() { _ = raw.Control(set) }
}
