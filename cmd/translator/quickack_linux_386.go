package main

import "syscall"

// quickAck makes the kernel acknowledge what was received, now. On 386
// socket options go through socketcall, which the syscall package wraps
// (it has no SYS_SETSOCKOPT to call directly).
func quickAck(fd uintptr) {
	_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
}
