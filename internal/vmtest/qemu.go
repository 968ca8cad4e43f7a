package vmtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Machine is one qemu boot.
type Machine struct {
	// Qemu is the emulator binary; default qemu-system-x86_64 from PATH
	// (Debian package qemu-system-x86).
	Qemu string
	// Kernel is the vmlinuz to boot.
	Kernel string
	// Initrd lists archives concatenated, in order, into the initramfs.
	Initrd []string
	// MemoryMB is the guest RAM; default 512.
	MemoryMB int
	// CPUs is the number of virtual CPUs; default 1.
	CPUs int
	// Append is added to the kernel command line.
	Append string
	// Line, if set, is called for every serial line as it arrives
	// (carriage returns removed), for progress output.
	Line func(string)
}

// Result is what a boot produced.
type Result struct {
	Exit     int           // the status /init printed; -1 if none
	Serial   []byte        // the whole serial console output
	Output   []byte        // the lines between the VMTEST-BEGIN/END markers
	Duration time.Duration // from qemu start to exit
	// Boot is the time from qemu start to the VMTEST-BEGIN marker: BIOS,
	// kernel, initramfs unpacking and module loading.
	Boot time.Duration
}

var exitRE = regexp.MustCompile(`(?m)^EXIT=(\d+)\s*$`)

// Run boots the machine and waits until it powers off or ctx is done. It
// returns an error if qemu cannot be started, dies without /init printing
// its exit status, or ctx ends first; the Result is filled in either way.
func (m *Machine) Run(ctx context.Context, tmpDir string) (*Result, error) {
	res := &Result{Exit: -1}
	qemu := m.Qemu
	if qemu == "" {
		qemu = "qemu-system-x86_64"
	}
	qp, err := exec.LookPath(qemu)
	if err != nil {
		return res, &unavailable{what: qemu + " (Debian package qemu-system-x86)", err: err}
	}
	initrd, err := concat(tmpDir, m.Initrd)
	if err != nil {
		return res, err
	}
	mem := m.MemoryMB
	if mem == 0 {
		mem = 512
	}
	// TCG only: -enable-kvm hangs after SeaBIOS on nested hosts and
	// -cpu host aborts on an MSR (shared/lab/README.md).
	args := []string{
		"-m", strconv.Itoa(mem), "-smp", strconv.Itoa(max(m.CPUs, 1)), "-nographic", "-no-reboot", "-nodefaults",
		"-serial", "stdio", "-monitor", "none",
		"-kernel", m.Kernel, "-initrd", initrd,
		"-append", strings.TrimSpace("console=ttyS0 quiet panic=-1 " + m.Append),
	}
	cmd := exec.CommandContext(ctx, qp, args...)
	cmd.Stdin = nil
	cmd.WaitDelay = 2 * time.Second
	var serial bytes.Buffer
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("start %s: %w", qp, err)
	}
	waitErr := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.Close()
		waitErr <- err
	}()
	var out bytes.Buffer
	inTest := false
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		serial.WriteString(line + "\n")
		switch {
		// the console may prefix the first line with terminal resets
		case strings.HasSuffix(line, "VMTEST-BEGIN"):
			inTest = true
			res.Boot = time.Since(start)
		case inTest && line == "VMTEST-END":
			inTest = false
		case inTest:
			out.WriteString(line + "\n")
		}
		if m.Line != nil {
			m.Line(line)
		}
	}
	_, _ = io.Copy(io.Discard, pr)
	err = <-waitErr
	res.Duration = time.Since(start)
	res.Serial = serial.Bytes()
	res.Output = out.Bytes()
	if mm := exitRE.FindSubmatch(res.Serial); mm != nil {
		res.Exit, _ = strconv.Atoi(string(mm[1]))
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("VM did not power off within its time limit after %v: %w", res.Duration.Round(time.Millisecond), context.Cause(ctx))
	}
	if res.Exit < 0 {
		if err == nil {
			err = errors.New("no EXIT= line on the serial console")
		}
		return res, fmt.Errorf("VM stopped before the test finished (kernel panic or /init failure): %w", err)
	}
	return res, nil
}

// concat writes the archives one after the other into a new file.
func concat(dir string, parts []string) (string, error) {
	f, err := os.CreateTemp(dir, "initrd-*.cpio")
	if err != nil {
		return "", err
	}
	defer f.Close()
	for _, p := range parts {
		in, err := os.Open(p)
		if err != nil {
			return "", fmt.Errorf("initramfs part: %w", err)
		}
		_, err = io.Copy(f, in)
		in.Close()
		if err != nil {
			return "", fmt.Errorf("write initramfs: %w", err)
		}
	}
	return f.Name(), f.Close()
}
