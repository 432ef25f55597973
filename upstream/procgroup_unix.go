//go:build unix

package upstream

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcessGroup puts the child in its own process group, so signals reach
// anything it spawns and a terminal's Ctrl-C reaches only the supervisor.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// signalGroup signals the child's process group.
func signalGroup(p *os.Process, sig syscall.Signal) error {
	if p == nil {
		return nil
	}
	if err := syscall.Kill(-p.Pid, sig); err != nil && err != syscall.ESRCH {
		return err
	}
	return nil
}
