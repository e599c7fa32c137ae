package drill

import "syscall"

// childAttr puts a member in a process group of its own, so a Ctrl-C in
// the terminal reaches only the drill (which then stops its members), and
// has the kernel kill it should the drill die first.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
