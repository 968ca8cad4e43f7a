//go:build !linux

package check

import (
	"fmt"
	"syscall"
)

func sockControl(ifname string, mark uint32) func(network, address string, rc syscall.RawConn) error {
	return func(string, string, syscall.RawConn) error {
		return fmt.Errorf("bind_if %q / fwmark %d: %w", ifname, mark, errSockOpt)
	}
}
