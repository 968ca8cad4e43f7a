package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Config fields left zero.
const (
	DefaultQueueLen = 16
	// DefaultTimeout bounds a notify script run. keepalived itself never
	// kills notify scripts; vigil runs them in order per instance, so a
	// hung script must not hold back that instance's later notifies for
	// ever.
	DefaultTimeout = 30 * time.Second
	// DefaultStopTimeout is how long notify_stop and "notify … STOP" may
	// run: keepalived kills them after one second (vrrp_notify.c:
	// system_call_script(…, TIMER_HZ, …)).
	DefaultStopTimeout = time.Second
)

// Scripts are the notify settings of one vrrp_instance or
// vrrp_sync_group. Nil commands are not configured.
type Scripts struct {
	Master  *Command // notify_master
	Backup  *Command // notify_backup
	Fault   *Command // notify_fault
	Stop    *Command // notify_stop
	Deleted *Command // notify_deleted's script (instances only)
	// Notify is the generic "notify" script, run after the specific one
	// with GROUP|INSTANCE, the name, the state and the priority appended.
	Notify *Command
	// MasterRxLowerPri is notify_master_rx_lower_pri (instances only),
	// run with no extra arguments.
	MasterRxLowerPri *Command
	// NotifyDeleted is set by notify_deleted: a deleted instance reports
	// DELETED; otherwise keepalived reports it as FAULT.
	NotifyDeleted bool
	// SMTPAlert is the resolved smtp_alert for this instance or group.
	SMTPAlert bool
}

// idle reports whether the settings ask for nothing to be run or mailed.
func (s *Scripts) idle() bool {
	return s.Master == nil && s.Backup == nil && s.Fault == nil && s.Stop == nil && s.Deleted == nil &&
		s.Notify == nil && s.MasterRxLowerPri == nil && !s.SMTPAlert
}

func (s *Scripts) forState(st State) *Command {
	switch st {
	case StateMaster:
		return s.Master
	case StateBackup:
		return s.Backup
	case StateFault:
		return s.Fault
	case StateStop:
		return s.Stop
	case StateDeleted:
		return s.Deleted
	}
	return nil
}

// FIFO is a notify_fifo or vrrp_notify_fifo.
type FIFO struct {
	// Path is the FIFO; created if absent and removed at exit if created.
	Path string
	// Owner is the user the FIFO is created for ([username [groupname]]);
	// nil: the daemon's user.
	Owner *Credential
	// Script is notify_fifo_script / vrrp_notify_fifo_script: started
	// before the FIFO is opened, with the FIFO path appended, and left
	// running until shutdown. Nil: none.
	Script *Command
}

// Config configures a Notifier. The zero value is valid and does nothing.
type Config struct {
	// Instances maps vrrp_instance names to their notify settings.
	Instances map[string]Scripts
	// Groups maps vrrp_sync_group names to their notify settings.
	Groups map[string]Scripts
	// FIFOs are notify_fifo and vrrp_notify_fifo (both get every line).
	FIFOs []FIFO
	// ScriptSecurity is enable_script_security.
	ScriptSecurity bool
	// DefaultUser runs scripts that name no user; see DefaultCredential.
	// Nil: the daemon's own user.
	DefaultUser *Credential
	// QueueLen bounds the events waiting per instance or group, and the
	// FIFO lines waiting; default DefaultQueueLen.
	QueueLen int
	// Timeout bounds each notify script; default DefaultTimeout.
	Timeout time.Duration
	// StopTimeout bounds STOP notifies and scripts still running at
	// shutdown; default DefaultStopTimeout.
	StopTimeout time.Duration
	// Mail is the SMTP setup; alerts are sent when Mail.Server and
	// Mail.To are set and the instance or group has SMTPAlert.
	Mail MailConfig
	// NoEmailFaults is no_email_faults: no mail for FAULT.
	NoEmailFaults bool
}

type queueKey struct {
	group bool
	name  string
}

type queue struct {
	key     queueKey
	scripts Scripts
	ch      chan Event
}

// Notifier runs notify scripts, writes notify FIFOs and sends SMTP alerts
// for VRRP state changes. Enqueue never blocks; each instance and group
// has its own bounded queue whose events are handled in order.
type Notifier struct {
	cfg    Config
	log    *slog.Logger
	def    Credential
	queues map[queueKey]*queue
	// notifyDeleted holds every configured instance and group, with
	// whether it has notify_deleted (queues holds only those with
	// something to run).
	notifyDeleted map[queueKey]bool
	fifoCh        chan string
	mailer        *Mailer
	dropped       atomic.Uint64
	started       atomic.Bool
	stopped       atomic.Bool
}

// New checks every script as keepalived does at startup (CheckScript):
// scripts that fail are disabled with a warning naming why, and the
// notifier carries on without them, like keepalived. It starts nothing;
// Run does.
func New(cfg Config, log *slog.Logger) (*Notifier, error) {
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	cfg.FIFOs = append([]FIFO(nil), cfg.FIFOs...) // New rewrites the scripts
	n := &Notifier{cfg: cfg, log: log, queues: map[queueKey]*queue{}, notifyDeleted: map[queueKey]bool{}, def: Self()}
	if cfg.DefaultUser != nil {
		n.def = *cfg.DefaultUser
	}
	if cfg.Mail.enabled() {
		m, err := NewMailer(cfg.Mail, log)
		if err != nil {
			return nil, err
		}
		n.mailer = m
	}
	anyScript := false
	check := func(where string, c *Command) *Command {
		if c == nil {
			return nil
		}
		res, err := CheckScript(*c, cfg.ScriptSecurity, n.def)
		if err != nil {
			log.Warn(err.Error(), "where", where)
			return nil
		}
		for _, w := range res.Warnings {
			log.Warn(w, "where", where)
		}
		anyScript = anyScript || res.Script
		return &res.Cmd
	}
	add := func(group bool, name string, s Scripts) {
		where := "vrrp_instance " + name
		if group {
			where = "vrrp_sync_group " + name
		}
		for _, p := range []**Command{&s.Master, &s.Backup, &s.Fault, &s.Stop, &s.Deleted, &s.Notify, &s.MasterRxLowerPri} {
			*p = check(where, *p)
		}
		k := queueKey{group, name}
		n.notifyDeleted[k] = s.NotifyDeleted
		if s.idle() {
			// Nothing to run or mail: no queue and no worker (at a
			// thousand instances, a goroutine each adds up). FIFO
			// lines are written all the same.
			return
		}
		n.queues[k] = &queue{key: k, scripts: s, ch: make(chan Event, cfg.QueueLen)}
	}
	for name, s := range cfg.Instances {
		add(false, name, s)
	}
	for name, s := range cfg.Groups {
		add(true, name, s)
	}
	for i := range n.cfg.FIFOs {
		n.cfg.FIFOs[i].Script = check("notify fifo "+n.cfg.FIFOs[i].Path, n.cfg.FIFOs[i].Script)
	}
	if len(cfg.FIFOs) > 0 {
		n.fifoCh = make(chan string, cfg.QueueLen)
	}
	if anyScript && !cfg.ScriptSecurity {
		log.Warn(SecurityViolation)
	}
	return n, nil
}

// Dropped counts events and FIFO lines dropped because a queue was full
// or the notifier had stopped.
func (n *Notifier) Dropped() uint64 { return n.dropped.Load() }

// Enqueue queues ev and returns at once; it never blocks. It returns
// false, counts the event in Dropped and logs a warning if the event's
// queue is full or Run has finished. Events for names not in the config
// only go to the FIFOs.
func (n *Notifier) Enqueue(ev Event) bool {
	if n.stopped.Load() {
		n.dropped.Add(1)
		n.log.Warn("notifier stopped, dropping notify", "instance", ev.Name, "to", stateWord(ev.State))
		return false
	}
	q := n.queues[queueKey{ev.Group, ev.Name}]
	if nd, known := n.notifyDeleted[queueKey{ev.Group, ev.Name}]; known && ev.State == StateDeleted && !nd {
		// keepalived's backward-compatible default: a deleted instance
		// is notified as FAULT unless notify_deleted is set.
		ev.State = StateFault
	}
	ok := true
	if n.fifoCh != nil {
		select {
		case n.fifoCh <- ev.FIFOLine():
		default:
			ok = false
			n.dropped.Add(1)
			n.log.Warn("notify fifo queue full, dropping line", "instance", ev.Name, "to", stateWord(ev.State))
		}
	}
	if q == nil {
		return ok
	}
	select {
	case q.ch <- ev:
	default:
		n.dropped.Add(1)
		n.log.Warn("notify queue full, dropping notify", "instance", ev.Name, "to", stateWord(ev.State))
		return false
	}
	return ok
}

// Run handles queued events until ctx ends. Then it handles the events
// already queued (so STOP notifies enqueued before cancelling do run),
// each script bounded by StopTimeout, sends queued mail, closes and
// removes the FIFOs, stops the FIFO scripts, and returns.
func (n *Notifier) Run(ctx context.Context) error {
	if !n.started.CompareAndSwap(false, true) {
		return errors.New("notify: Run called twice")
	}
	var fifos []*fifoFile
	var fifoScripts sync.WaitGroup
	scriptCtx, stopScripts := context.WithCancel(context.WithoutCancel(ctx))
	defer stopScripts()
	for _, f := range n.cfg.FIFOs {
		// The FIFO exists before its script starts, so the script can
		// open it for reading.
		ff, err := openFIFO(f.Path, f.Owner)
		if err != nil {
			n.log.Warn(err.Error())
			continue
		}
		fifos = append(fifos, ff)
		if f.Script != nil {
			c := *f.Script
			path := f.Path
			fifoScripts.Go(func() {
				res := c.Exec(scriptCtx, 0, n.def, path)
				if scriptCtx.Err() == nil {
					n.log.Warn("notify fifo script exited", "file", path, "script", c.String(), "result", res.String())
				}
			})
		}
	}

	// runCtx bounds the scripts running when ctx ends to StopTimeout.
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	stopTimer := context.AfterFunc(ctx, func() { time.AfterFunc(n.cfg.StopTimeout, cancelRun) })
	defer stopTimer()

	var mailWG sync.WaitGroup
	mailCtx, stopMail := context.WithCancel(context.WithoutCancel(ctx))
	defer stopMail()
	if n.mailer != nil {
		mailWG.Go(func() { _ = n.mailer.Run(mailCtx) })
	}
	var fifoWG sync.WaitGroup
	fifoDone := make(chan struct{})
	if n.fifoCh != nil {
		fifoWG.Go(func() { n.writeFIFOs(fifos, fifoDone) })
	}
	var workers sync.WaitGroup
	for _, q := range n.queues {
		workers.Go(func() { n.worker(ctx, runCtx, q) })
	}

	<-ctx.Done()
	workers.Wait()
	n.stopped.Store(true)
	close(fifoDone)
	fifoWG.Wait()
	stopMail()
	mailWG.Wait()
	for _, ff := range fifos {
		ff.close()
	}
	stopScripts()
	fifoScripts.Wait()
	return nil
}

func (n *Notifier) writeFIFOs(fifos []*fifoFile, done <-chan struct{}) {
	write := func(line string) {
		for _, ff := range fifos {
			if err := ff.write(line); err != nil {
				n.log.Warn(err.Error())
			}
		}
	}
	for {
		select {
		case line := <-n.fifoCh:
			write(line)
		case <-done:
			for {
				select {
				case line := <-n.fifoCh:
					write(line)
				default:
					return
				}
			}
		}
	}
}

// worker handles one instance's or group's events in order.
func (n *Notifier) worker(ctx, runCtx context.Context, q *queue) {
	var lastMail State // keepalived's last_email_state
	for {
		select {
		case ev := <-q.ch:
			n.handle(runCtx, q, ev, &lastMail, false)
		case <-ctx.Done():
			for {
				select {
				case ev := <-q.ch:
					n.handle(context.WithoutCancel(ctx), q, ev, &lastMail, true)
				default:
					return
				}
			}
		}
	}
}

// handle runs what keepalived's send_instance_notifies,
// send_group_notifies and send_event_notify do for one event, except the
// FIFO line (written by Enqueue's FIFO queue): the state's notify_*
// script, then the generic notify script, then the SMTP alert.
func (n *Notifier) handle(ctx context.Context, q *queue, ev Event, lastMail *State, draining bool) {
	timeout := n.cfg.Timeout
	if draining || ev.State == StateStop {
		timeout = n.cfg.StopTimeout
	}
	switch ev.State {
	case EventMasterRxLowerPri:
		n.run(ctx, q, "notify_master_rx_lower_pri", q.scripts.MasterRxLowerPri, timeout, ev)
		return
	case EventMasterPriority, EventBackupPriority:
		return
	}
	n.run(ctx, q, "notify_"+lowerState(ev.State), q.scripts.forState(ev.State), timeout, ev)
	n.run(ctx, q, "notify", q.scripts.Notify, timeout, ev, ev.NotifyArgs()...)
	n.mail(q, ev, lastMail)
}

func (n *Notifier) run(ctx context.Context, q *queue, kind string, c *Command, timeout time.Duration, ev Event, extra ...string) {
	if c == nil {
		return
	}
	res := c.Exec(ctx, timeout, n.def, extra...)
	attrs := []any{"instance", q.key.name, "to", stateWord(ev.State), "script", kind, "cmd", c.String(), "result", res.String(), "took", res.Duration}
	switch {
	case res.Err != nil || res.TimedOut:
		n.log.Warn("notify script failed", attrs...)
	default:
		n.log.Debug("notify script done", attrs...)
	}
}

func (n *Notifier) mail(q *queue, ev Event, lastMail *State) {
	if n.mailer == nil || !q.scripts.SMTPAlert || *lastMail == ev.State {
		return
	}
	if n.cfg.NoEmailFaults && ev.State == StateFault {
		return
	}
	var m Mail
	var ok bool
	if q.key.group {
		m, ok = GroupMail(n.mailer.RouterID(), q.key.name, ev.State)
	} else {
		m, ok = InstanceMail(n.mailer.RouterID(), q.key.name, ev.State)
	}
	if !ok {
		return
	}
	*lastMail = ev.State
	n.mailer.Enqueue(m)
}

func lowerState(s State) string {
	switch s {
	case StateMaster:
		return "master"
	case StateBackup:
		return "backup"
	case StateFault:
		return "fault"
	case StateStop:
		return "stop"
	case StateDeleted:
		return "deleted"
	}
	return fmt.Sprint(int(s))
}
