//go:build !linux

package check

import "os/exec"

func setProcAttrs(cmd *exec.Cmd, c *Cred) {}

func terminateGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return cmd.Process.Kill()
}

func killGroup(cmd *exec.Cmd) {}
