package check

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// sockControl applies bind_if (SO_BINDTODEVICE) and fwmark (SO_MARK) before
// the socket connects.
func sockControl(ifname string, mark uint32) func(network, address string, rc syscall.RawConn) error {
	return func(network, address string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if ifname != "" {
				if e := unix.BindToDevice(int(fd), ifname); e != nil {
					serr = fmt.Errorf("bind_if %s: %w", ifname, e)
					return
				}
			}
			if mark != 0 {
				if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(mark)); e != nil {
					serr = fmt.Errorf("fwmark %d: %w", mark, e)
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
}
