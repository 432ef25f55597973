//go:build linux && !386

package main

import (
	"syscall"
	"unsafe"
)

// quickAck makes the kernel acknowledge what was received, now.
func quickAck(fd uintptr) {
	one := int32(1)
	_, _, _ = syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_QUICKACK,
		uintptr(unsafe.Pointer(&one)), unsafe.Sizeof(one), 0)
}
