//go:build !linux

package transport

import "net"

// quickAcker exists on Linux only (quickack_linux.go); elsewhere the
// kernel's own ACK timing applies.
func quickAcker(net.Conn) func() { return nil }
