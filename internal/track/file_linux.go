package track

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watchedFile is a track_file being watched.
type watchedFile struct {
	File
	path  string // resolved path
	dir   string
	base  string
	value int64
}

// initTrackFile writes init_file's value as keepalived does at config
// load (trackers/track_file.c track_file_end_handler): without
// "overwrite" only when the file does not exist; with it also over an
// existing regular file.
func initTrackFile(f File) error {
	if f.Init == nil {
		return nil
	}
	st, err := os.Stat(f.Path)
	switch {
	case err == nil && !f.Init.Overwrite:
		return nil
	case err == nil && !st.Mode().IsRegular():
		return fmt.Errorf("Cannot initialise track file %s - it is not a regular file", f.Name)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("Unable to initialise track file %s: %w", f.Name, err)
	}
	if err := os.WriteFile(f.Path, []byte(strconv.Itoa(f.Init.Value)+"\n"), 0o644); err != nil {
		return fmt.Errorf("Unable to initialise track file %s: %w", f.Name, err)
	}
	return nil
}

// resolveTrackFile makes the path absolute with links resolved; if the
// file does not exist yet its directory must (track_file.c
// init_track_files).
func resolveTrackFile(f File) (string, error) {
	p, err := filepath.Abs(f.Path)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("track file %s is not accessible - ignoring: %w", f.Name, err)
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(p))
	if err == nil {
		var st os.FileInfo
		if st, err = os.Stat(dir); err == nil && !st.IsDir() {
			err = errors.New("not a directory")
		}
	}
	if err != nil {
		return "", fmt.Errorf("Track file directory for %s does not exist - removing: %w", f.Name, err)
	}
	return filepath.Join(dir, filepath.Base(p)), nil
}

// readTrackFile reads the value; a missing or empty file is 0.
func readTrackFile(path string) (int64, error) {
	fd, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return 0, nil
	}
	defer fd.Close()
	buf := make([]byte, maxFileRead)
	n, err := fd.Read(buf)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, nil
	}
	return ParseFileValue(buf[:n])
}

// watchFiles reports each file's value at startup and again whenever it
// is written (IN_CLOSE_WRITE), moved in, moved away or deleted (value 0),
// watching the directories with inotify as keepalived does.
func (t *Tracker) watchFiles(ctx context.Context) error {
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("Unable to monitor track files: inotify: %w", err)
	}
	// A non-blocking fd in an *os.File uses the runtime poller, so Close
	// from AfterFunc interrupts a pending Read.
	inf := os.NewFile(uintptr(ifd), "inotify")
	defer inf.Close()
	stop := context.AfterFunc(ctx, func() { _ = inf.Close() })
	defer stop()

	byWD := map[int][]*watchedFile{}
	for _, f := range t.files {
		log := t.log.With("track_file", f.Name, "file", f.Path)
		if err := initTrackFile(f); err != nil {
			log.Warn(err.Error())
		}
		p, err := resolveTrackFile(f)
		if err != nil {
			log.Warn(err.Error())
			continue
		}
		w := &watchedFile{File: f, path: p, dir: filepath.Dir(p), base: filepath.Base(p)}
		wd, err := unix.InotifyAddWatch(ifd, w.dir, unix.IN_CLOSE_WRITE|unix.IN_DELETE|unix.IN_MOVE)
		if err != nil {
			log.Warn("Unable to monitor track file", "err", err)
			continue
		}
		byWD[wd] = append(byWD[wd], w)
		v, err := readTrackFile(p)
		if err != nil {
			log.Warn(fmt.Sprintf("Invalid number read from %s - ignoring", p), "err", err)
		}
		w.value = v
		t.publish(ctx, Event{Kind: KindFile, Name: f.Name, Value: v, Initial: true, Weight: f.Weight, Reverse: f.Reverse})
	}
	if len(byWD) == 0 {
		<-ctx.Done()
		return nil
	}

	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := inf.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("inotify read: %w", err)
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameBytes := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if ev.Mask&unix.IN_ISDIR != 0 {
				continue
			}
			name := string(nameBytes)
			for i, c := range nameBytes {
				if c == 0 {
					name = string(nameBytes[:i])
					break
				}
			}
			for _, w := range byWD[int(ev.Wd)] {
				if w.base != name {
					continue
				}
				var v int64
				if ev.Mask&(unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO) != 0 {
					v, err = readTrackFile(w.path)
					if err != nil {
						t.log.Warn(fmt.Sprintf("Invalid number read from %s - ignoring", w.path), "track_file", w.Name, "err", err)
						continue
					}
				}
				// IN_DELETE, IN_MOVED_FROM: the file is gone; treat as 0.
				if v == w.value {
					continue
				}
				w.value = v
				t.publish(ctx, Event{Kind: KindFile, Name: w.Name, Value: v, Weight: w.Weight, Reverse: w.Reverse})
			}
		}
	}
}
