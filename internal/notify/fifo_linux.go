package notify

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// fifoFile is an open notify FIFO.
type fifoFile struct {
	path    string
	fd      int
	created bool
}

// openFIFO creates the FIFO if it does not exist (mode 0644, owned by
// cred when that differs from the daemon's user) and opens it read-write
// and non-blocking, as keepalived does (lib/notify.c fifo_open): opening
// read-write never blocks waiting for a reader, and a write to a full
// FIFO fails with EAGAIN instead of stalling the daemon.
func openFIFO(path string, cred *Credential) (*fifoFile, error) {
	ff := &fifoFile{path: path}
	err := syscall.Mkfifo(path, 0o644)
	switch {
	case err == nil:
		ff.created = true
		if cred != nil {
			self := Self()
			if cred.UID != self.UID || cred.GID != self.GID {
				if err := os.Chown(path, int(cred.UID), int(cred.GID)); err != nil {
					_ = os.Remove(path)
					return nil, fmt.Errorf("set owner %d:%d of notify fifo %s: %w", cred.UID, cred.GID, path, err)
				}
			}
		}
	case errors.Is(err, syscall.EEXIST):
	default:
		return nil, fmt.Errorf("unable to create notify fifo %s: %w", path, err)
	}
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CLOEXEC|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if ff.created {
			_ = os.Remove(path)
		}
		return nil, fmt.Errorf("unable to open notify fifo %s: %w", path, err)
	}
	ff.fd = fd
	return ff, nil
}

// write writes one line; it never blocks.
func (ff *fifoFile) write(line string) error {
	_, err := syscall.Write(ff.fd, []byte(line))
	if err != nil {
		return fmt.Errorf("write notify fifo %s: %w", ff.path, err)
	}
	return nil
}

// close removes the FIFO first if we created it, so a reader that
// reopens it in a loop cannot reopen ours (keepalived's order), then
// closes it.
func (ff *fifoFile) close() {
	if ff.created {
		_ = os.Remove(ff.path)
	}
	_ = syscall.Close(ff.fd)
}
