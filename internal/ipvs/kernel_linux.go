package ipvs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Batch limits. The kernel handles every message of one sendmsg in turn,
// before sendmsg returns, and queues the answers on our socket; they must
// all fit in its receive buffer or the kernel drops them (ENOBUFS). An
// op is ~120 bytes; an error answer echoes it and costs ~1 KiB of
// receive buffer.
const (
	batchOps   = 1024
	batchBytes = 192 << 10
	rcvBuf     = 4 << 20 // SO_RCVBUFFORCE; the kernel doubles it
	sndBuf     = 1 << 20
	readBuf    = 64 << 10
)

// Kernel is the IPVS table of one network namespace, through the "IPVS"
// generic netlink family. It encodes the messages itself (genl.go) so
// that it can send many in one sendmsg, and the persistence engine and
// tunnel attributes. Its methods may be called from several goroutines;
// they take turns on the one socket.
type Kernel struct {
	mu     sync.Mutex
	fd     int
	family uint16
	seq    uint32
	enc    encoder
	buf    []byte
	msgs   []message // recv's, reused
	// ackEach asks for an ack of every op rather than only of the last
	// of a batch (errors come back either way); for measurements.
	ackEach bool
}

// Open returns the IPVS table of the network namespace at netnsPath (for
// example /run/netns/NAME), or of the caller's namespace if it is "".
// The ip_vs module must be loaded.
func Open(netnsPath string) (*Kernel, error) {
	where := "current network namespace"
	if netnsPath != "" {
		where = "network namespace " + netnsPath
	}
	fd, err := socketIn(netnsPath)
	if err != nil {
		return nil, fmt.Errorf("open generic netlink socket in %s: %w", where, err)
	}
	k := &Kernel{fd: fd, buf: make([]byte, readBuf)}
	// Bigger buffers let a batch's answers queue up; without privilege
	// the defaults still work, with smaller batches' worth of room.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sndBuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sndBuf)
	}
	// Errors carry only the failed message's header, not all of it.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind generic netlink socket in %s: %w", where, err)
	}
	if err := k.resolveFamily(); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("find the IPVS netlink family in %s (is the ip_vs module loaded?): %w", where, err)
	}
	return k, nil
}

// socketIn creates a blocking netlink socket in the namespace at path. A
// socket stays in the namespace it was created in.
func socketIn(path string) (int, error) {
	socket := func() (int, error) {
		return unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	}
	if path == "" {
		return socket()
	}
	target, err := netns.GetFromPath(path)
	if err != nil {
		return -1, err
	}
	defer target.Close()
	type result struct {
		fd  int
		err error
	}
	res := make(chan result, 1)
	// A thread of its own: if it cannot return to its namespace, it
	// exits locked and the runtime discards it.
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			res <- result{-1, err}
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			res <- result{-1, err}
			return
		}
		fd, err := socket()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		res <- result{fd, err}
	}()
	r := <-res
	return r.fd, r.err
}

// Close releases the netlink socket.
func (k *Kernel) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return unix.Close(k.fd)
}

func (k *Kernel) nextSeq() uint32 {
	k.seq++
	return k.seq
}

// resolveFamily asks the generic netlink controller for the IPVS id.
func (k *Kernel) resolveFamily() error {
	k.enc.b = k.enc.b[:0]
	seq := k.nextSeq()
	k.enc.familyRequest(seq)
	return k.request(seq, func(m message) error {
		id, err := decodeFamilyID(m)
		k.family = id
		return err
	})
}

// request sends the message in k.enc (sequence number seq, with
// NLM_F_ACK) and passes each reply to fn until the ack or error.
func (k *Kernel) request(seq uint32, fn func(message) error) error {
	if err := unix.Sendto(k.fd, k.enc.b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	var ferr error
	for {
		msgs, err := k.recv(0)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.seq != seq {
				continue // a late answer to an abandoned request
			}
			if m.typ == nlmsgError {
				if err := m.errno(); err != nil {
					return err
				}
				return ferr
			}
			if ferr == nil {
				ferr = fn(m)
			}
		}
	}
}

// dump sends the dump request in k.enc and passes each reply to fn.
func (k *Kernel) dump(seq uint32, fn func(message) error) error {
	if err := unix.Sendto(k.fd, k.enc.b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	var ferr error
	for {
		msgs, err := k.recv(0)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.seq != seq {
				continue
			}
			switch m.typ {
			case nlmsgError:
				if err := m.errno(); err != nil {
					return err
				}
				return ferr
			case nlmsgDone:
				if len(m.data) >= 4 {
					if err := m.errno(); err != nil {
						return err
					}
				}
				return ferr
			}
			if ferr == nil {
				ferr = fn(m)
			}
		}
	}
}

// recv reads one datagram (flags: 0 or MSG_DONTWAIT) and splits it.
func (k *Kernel) recv(flags int) ([]message, error) {
	for {
		n, _, rflags, _, err := unix.Recvmsg(k.fd, k.buf, nil, flags)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("netlink receive: %w", err)
		}
		if rflags&unix.MSG_TRUNC != 0 {
			return nil, fmt.Errorf("netlink receive: message larger than %d bytes", len(k.buf))
		}
		k.msgs, err = appendMessages(k.msgs[:0], k.buf[:n])
		return k.msgs, err
	}
}

// Flush deletes every virtual service, whoever created it (ipvsadm -C).
func (k *Kernel) Flush() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.enc.b = k.enc.b[:0]
	seq := k.nextSeq()
	k.enc.simple(k.family, nlmFRequest|nlmFAck, seq, cmdFlush)
	if err := k.request(seq, func(message) error { return nil }); err != nil {
		return fmt.Errorf("flush IPVS table: %w", err)
	}
	return nil
}

// Read returns the current table, sorted: one dump of the services, then
// one of each service's real servers (the kernel runs one dump at a time
// per socket, and IPVS_CMD_GET_DEST dumps the real servers of the one
// service its request names).
func (k *Kernel) Read(ctx context.Context) (Table, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var t Table
	k.enc.b = k.enc.b[:0]
	seq := k.nextSeq()
	k.enc.end(k.enc.begin(k.family, nlmFRequest|nlmFDump, seq, cmdGetService, ipvsGenlVer))
	err := k.dump(seq, func(m message) error {
		s, err := decodeService(m)
		t = append(t, s)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list virtual servers: %w", err)
	}
	// Every service's real servers go into one array, cut up at the
	// end: a few allocations for the whole table, not some per service.
	var all []Destination
	ends := make([]int, len(t))
	for i := range t {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if all, err = k.appendDests(all, t[i].Key); err != nil {
			return nil, fmt.Errorf("list real servers of virtual server %s: %w", t[i].Key, err)
		}
		ends[i] = len(all)
	}
	start := 0
	for i, end := range ends {
		if end > start {
			t[i].Dests = all[start:end:end]
		}
		start = end
	}
	// t is Read's own: sorted in place (the kernel lists services in
	// hash order, a service's real servers newest first).
	t.sortInPlace()
	return t, nil
}

// appendDests dumps the real servers of one service and appends them to
// ds; none if the service is missing.
func (k *Kernel) appendDests(ds []Destination, key ServiceKey) ([]Destination, error) {
	k.enc.b = k.enc.b[:0]
	seq := k.nextSeq()
	k.enc.serviceRequest(k.family, nlmFRequest|nlmFDump, seq, cmdGetDest, key)
	err := k.dump(seq, func(m message) error {
		d, err := decodeDest(m, key.Family)
		ds = append(ds, d)
		return err
	})
	return ds, err
}

// lookup returns one service and its real servers, and whether the
// kernel has it.
func (k *Kernel) lookup(key ServiceKey) (Service, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var s Service
	k.enc.b = k.enc.b[:0]
	seq := k.nextSeq()
	k.enc.serviceRequest(k.family, nlmFRequest|nlmFAck, seq, cmdGetService, key)
	err := k.request(seq, func(m message) error {
		var err error
		s, err = decodeService(m)
		return err
	})
	if errors.Is(err, unix.ESRCH) {
		return Service{}, false, nil
	}
	if err != nil {
		return Service{}, false, fmt.Errorf("get virtual server %s: %w", key, err)
	}
	s.Dests, err = k.appendDests(nil, key)
	if err != nil {
		return Service{}, false, fmt.Errorf("list real servers of virtual server %s: %w", key, err)
	}
	return s, true, nil
}

// Apply performs one op: one request and its ack. Errors are *OpError.
func (k *Kernel) Apply(ctx context.Context, op Op) error {
	errs, err := k.ApplyBatch(ctx, []Op{op})
	if err != nil {
		return &OpError{Op: op, Err: err}
	}
	return errs[0]
}

// ApplyBatch performs ops in order, up to batchOps of them in each
// sendmsg. Only the last message of a batch asks for an ack; the kernel
// answers any message that fails with its errno, which is matched to the
// op by sequence number. It returns one entry per op processed, nil or
// an *OpError, and err when it stopped before the end: the context
// ended, or the socket failed (the ops of the batch in flight then are
// in an unknown state).
func (k *Kernel) ApplyBatch(ctx context.Context, ops []Op) ([]error, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	errs := make([]error, 0, len(ops))
	for len(errs) < len(ops) {
		if err := ctx.Err(); err != nil {
			return errs, err
		}
		berrs, err := k.batch(ops[len(errs):])
		if err != nil {
			return errs, err
		}
		errs = append(errs, berrs...)
	}
	return errs, nil
}

// batch sends the first ops (as many as the limits allow) in one sendmsg
// and collects the answers: one entry per op taken.
func (k *Kernel) batch(ops []Op) ([]error, error) {
	k.enc.b = k.enc.b[:0]
	n := min(len(ops), batchOps)
	errs := make([]error, n)
	// sent[i] is the index in ops of the message with sequence first+i.
	sent := make([]int, 0, n)
	first := k.seq + 1
	lastStart := 0
	for i := range n {
		if len(k.enc.b) >= batchBytes {
			n = i
			errs = errs[:n]
			break
		}
		flags := uint16(nlmFRequest)
		if k.ackEach {
			flags |= nlmFAck
		}
		mark := len(k.enc.b)
		if err := k.enc.op(k.family, flags, first+uint32(len(sent)), ops[i]); err != nil {
			k.enc.b = k.enc.b[:mark]
			errs[i] = k.opError(ops[i], err)
			continue
		}
		sent = append(sent, i)
		lastStart = mark
	}
	if len(sent) == 0 {
		return errs, nil
	}
	// The last message's ack tells that the kernel is through the batch.
	if !k.ackEach {
		f := k.enc.b[lastStart+6:]
		binary.NativeEndian.PutUint16(f, binary.NativeEndian.Uint16(f)|nlmFAck)
	}
	k.seq = first + uint32(len(sent)) - 1
	if err := unix.Sendto(k.fd, k.enc.b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink send of %d ops: %w", len(sent), err)
	}
	answered := make([]bool, len(sent))
	pending := len(sent)
	if !k.ackEach {
		pending = 1 // the last op's ack ends the batch
	}
	flags := 0
	for pending > 0 {
		msgs, err := k.recv(flags)
		switch {
		case errors.Is(err, unix.ENOBUFS):
			// Answers were dropped. The kernel is through the batch
			// (it answers within sendmsg): collect what is queued.
			flags, pending = unix.MSG_DONTWAIT, len(sent)+1
			continue
		case flags != 0 && errors.Is(err, unix.EAGAIN):
			for i, ok := range answered {
				// Without acks for every op, a missing answer is
				// a success or a lost error; report it as lost.
				if !ok {
					errs[sent[i]] = k.opError(ops[sent[i]], fmt.Errorf("kernel answer lost (netlink receive buffer overrun), state unknown until the next full reconcile: %w", unix.ENOBUFS))
				}
			}
			return errs, nil
		case err != nil:
			return nil, err
		}
		for _, m := range msgs {
			if m.typ != nlmsgError || m.seq < first || m.seq > k.seq || answered[m.seq-first] {
				continue
			}
			i := m.seq - first
			answered[i] = true
			if err := m.errno(); err != nil {
				errs[sent[i]] = k.opError(ops[sent[i]], err)
			}
			if k.ackEach || m.seq == k.seq {
				pending--
			}
		}
	}
	return errs, nil
}

func (k *Kernel) opError(op Op, err error) error {
	return &OpError{Op: op, Err: applyErr(op, err)}
}

// applyErr adds what an operator can do about the common kernel refusals.
func applyErr(op Op, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOENT) && (op.Kind == AddService || op.Kind == EditService):
		if pe := op.Service.Persistence.Engine; pe != "" {
			return fmt.Errorf("scheduler %q or persistence engine %q not available (modules ip_vs_%s, ip_vs_pe_%s loaded?): %w",
				op.Service.Scheduler, pe, op.Service.Scheduler, pe, err)
		}
		return fmt.Errorf("scheduler %q not available (module ip_vs_%s loaded?): %w",
			op.Service.Scheduler, op.Service.Scheduler, err)
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("already exists (created outside vigil?): %w", err)
	case errors.Is(err, unix.ESRCH):
		return fmt.Errorf("no longer in the kernel table (removed outside vigil?): %w", err)
	}
	return err
}
