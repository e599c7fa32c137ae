//go:build !linux

package drill

import "syscall"

// childAttr puts a member in a process group of its own, so a Ctrl-C in
// the terminal reaches only the drill, which then stops its members.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
