package check

import (
	"strconv"
	"time"
)

// Policy selects which keepalived checker's retry rules a Tracker follows.
// keepalived 2.2.7 has no shared rule: each checker's epilog differs in
// small ways, and operators' retry settings behave accordingly.
type Policy int

const (
	// PolicyTCP follows TCP_CHECK (check_tcp.c tcp_epilog): a failure while
	// retries remain waits delay_before_retry, even when already down.
	PolicyTCP Policy = iota
	// PolicyHTTP follows HTTP_GET/SSL_GET (check_http.c epilog): URLs are
	// checked one per delay_loop, a URL is retried "retry" times, and after
	// a failure every URL must pass again before the server is up.
	PolicyHTTP
	// PolicySMTP follows SMTP_CHECK (check_smtp.c smtp_final): once the
	// retries are used up, no more retries until a success.
	PolicySMTP
	// PolicyDNS follows DNS_CHECK (check_dns.c dns_final): retries only
	// while up; while down, one check per delay_loop.
	PolicyDNS
	// PolicyMisc follows MISC_CHECK (check_misc.c): as PolicyDNS, but the
	// next run is timed from the start of the previous one.
	PolicyMisc
)

// keepalived's BOOTSTRAP_DELAY: every checker starts one second after the
// daemon, plus its random warmup.
const bootstrapDelay = time.Second

// Timing holds a checker's resolved scheduling keywords.
type Timing struct {
	// DelayLoop is delay_loop.
	DelayLoop time.Duration
	// DelayBeforeRetry is delay_before_retry.
	DelayBeforeRetry time.Duration
	// Retry is retry (nb_get_retry).
	Retry int
	// Warmup is warmup: the first check starts after 1 s plus a random
	// delay in [0, Warmup].
	Warmup time.Duration
	// Timeout bounds one probe: connect_timeout, or misc_timeout for
	// MISC_CHECK.
	Timeout time.Duration
	// Alpha starts the checker in the failed state (alpha).
	Alpha bool
	// FastRecovery is HTTP_GET's fast_recovery.
	FastRecovery bool
}

// DefaultTiming returns keepalived 2.2.7's defaults for a checker that sets
// none of the keywords, with the given delay_loop (0 means 60 s):
// retry 1 (DNS_CHECK 3, MISC_CHECK 0); delay_before_retry 1 s (HTTP_GET and
// SSL_GET 3 s, DNS_CHECK delay_loop); warmup delay_loop; connect_timeout 5 s
// (misc_timeout defaults to delay_loop).
func DefaultTiming(p Policy, delayLoop time.Duration) Timing {
	if delayLoop <= 0 {
		delayLoop = 60 * time.Second
	}
	t := Timing{DelayLoop: delayLoop, DelayBeforeRetry: time.Second, Retry: 1, Warmup: delayLoop, Timeout: 5 * time.Second}
	switch p {
	case PolicyHTTP:
		t.DelayBeforeRetry = 3 * time.Second
	case PolicyDNS:
		t.Retry = 3
		t.DelayBeforeRetry = delayLoop
	case PolicyMisc:
		t.Retry = 0
		t.Timeout = delayLoop
	}
	return t
}

// Outcome is what a Tracker decides after one probe.
type Outcome struct {
	// Delay is the time until the next probe.
	Delay time.Duration
	// FromStart says Delay counts from the start of the probe just done
	// (MISC_CHECK); otherwise from its end.
	FromStart bool
	// Report is set when keepalived would update the checker's state:
	// always on a change, and the first time the state is settled.
	Report bool
	// Up is the checker's state after this probe.
	Up bool
	// Changed reports that Up differs from the state before the probe.
	Changed bool
}

// Tracker is the pure per-checker state machine: results in, delays and
// state out. It reads no clock and holds no timer.
type Tracker struct {
	policy Policy
	t      Timing
	steps  int

	up      bool
	hasRun  bool
	retryIt int
	urlIt   int // HTTP: URL to probe next
	failed  int // HTTP: URL that failed, -1 when none
}

// NewTracker returns a tracker in keepalived's start state: up unless alpha,
// not yet run, with the retry counter exhausted so that a first failure
// marks the server down at once. steps is the number of URLs (HTTP) and is
// treated as 1 for other policies.
func NewTracker(p Policy, t Timing, steps int) *Tracker {
	if p != PolicyHTTP || steps < 1 {
		steps = 1
	}
	return &Tracker{policy: p, t: t, steps: steps, up: !t.Alpha, retryIt: t.Retry, failed: -1}
}

// Up reports the checker's current state.
func (k *Tracker) Up() bool { return k.up }

// Step returns which URL the next probe must fetch (0 for single-step
// checkers).
func (k *Tracker) Step() int { return k.urlIt }

// FirstDelay returns the delay before the first probe: 1 s plus rnd scaled
// into [0, warmup]. rnd must be in [0, 1].
func (k *Tracker) FirstDelay(rnd float64) time.Duration {
	return bootstrapDelay + time.Duration(float64(k.t.Warmup)*rnd)
}

// set mirrors keepalived's update_svr_checker_state: it settles has_run and
// reports a change or the first settlement.
func (k *Tracker) set(up bool, o *Outcome) {
	if k.up == up {
		if !k.hasRun {
			o.Report = true
		}
		k.hasRun = true
		return
	}
	k.hasRun = true
	k.up = up
	o.Report, o.Changed = true, true
}

// Observe feeds the result of the probe of Step() and returns what follows.
func (k *Tracker) Observe(ok bool) Outcome {
	var o Outcome
	switch k.policy {
	case PolicyTCP:
		k.observeTCP(ok, &o)
	case PolicySMTP:
		k.observeSMTP(ok, &o)
	case PolicyHTTP:
		k.observeHTTP(ok, &o)
	default:
		k.observeDNSMisc(ok, &o)
	}
	o.Up = k.up
	return o
}

func (k *Tracker) observeTCP(ok bool, o *Outcome) {
	if ok || k.retryIt >= k.t.Retry {
		o.Delay = k.t.DelayLoop
		k.retryIt = 0
		if ok && (!k.up || !k.hasRun) {
			k.set(true, o)
		} else if !ok && (k.up || !k.hasRun) {
			k.set(false, o)
		}
	} else {
		o.Delay = k.t.DelayBeforeRetry
		k.retryIt++
	}
	k.hasRun = true
}

func (k *Tracker) observeSMTP(ok bool, o *Outcome) {
	o.Delay = k.t.DelayLoop
	if !ok {
		k.retryIt++
		if k.retryIt <= k.t.Retry {
			o.Delay = k.t.DelayBeforeRetry
			return
		}
		if k.up || !k.hasRun {
			k.set(false, o)
		}
		return
	}
	k.retryIt = 0
	if !k.up || !k.hasRun {
		k.set(true, o)
	}
	k.hasRun = true
}

func (k *Tracker) observeDNSMisc(ok bool, o *Outcome) {
	o.FromStart = k.policy == PolicyMisc
	if !ok {
		if k.up || !k.hasRun {
			if k.retryIt < k.t.Retry {
				k.retryIt++
				k.hasRun = true
				o.Delay = k.t.DelayBeforeRetry
				return
			}
			k.set(false, o)
		}
	} else if !k.up || !k.hasRun {
		k.set(true, o)
	}
	k.retryIt = 0
	k.hasRun = true
	o.Delay = k.t.DelayLoop
}

type httpMethod int

const (
	httpNew    httpMethod = iota // the URL passed
	httpRetry                    // the URL failed while up: count a retry
	httpFailed                   // the URL failed while down
)

func (k *Tracker) observeHTTP(ok bool, o *Outcome) {
	m := httpNew
	if !ok {
		m = httpFailed
		if k.up || !k.hasRun {
			k.hasRun = true
			m = httpRetry
		}
	}
	switch m {
	case httpNew:
		k.urlIt++
		if k.urlIt == k.steps {
			k.urlIt = -1
		}
		k.retryIt = 0
	case httpRetry:
		k.retryIt++
	}
	switch {
	case m == httpNew && k.urlIt < 0 && k.failed < 0:
		// Every URL passed.
		if !k.up || !k.hasRun {
			k.set(true, o)
		}
		k.urlIt, k.retryIt = 0, 0
	case m == httpRetry && k.retryIt > k.t.Retry:
		if k.up {
			k.set(false, o)
		}
		k.failed = k.urlIt
	case m == httpNew && k.failed >= 0:
		// The failed URL passes again: walk all URLs from the first.
		k.failed = -1
		k.urlIt, k.retryIt = 0, 0
	}
	switch {
	case m == httpNew:
		o.Delay = k.t.DelayLoop
		if !k.hasRun {
			k.retryIt = k.t.Retry
		}
	case k.failed >= 0:
		o.Delay = max(k.t.DelayBeforeRetry, k.t.DelayLoop)
	default:
		o.Delay = k.t.DelayBeforeRetry
	}
	if k.t.FastRecovery && (!k.hasRun || (!k.up && k.failed < 0)) {
		o.Delay = 0
	}
}

// String returns the keepalived checker keyword the policy follows.
func (p Policy) String() string {
	switch p {
	case PolicyTCP:
		return "TCP_CHECK"
	case PolicyHTTP:
		return "HTTP_GET"
	case PolicySMTP:
		return "SMTP_CHECK"
	case PolicyDNS:
		return "DNS_CHECK"
	case PolicyMisc:
		return "MISC_CHECK"
	}
	return "Policy(" + strconv.Itoa(int(p)) + ")"
}

// TrackerState is the part of a Tracker carried over a configuration reload.
type TrackerState struct {
	Up      bool
	HasRun  bool
	RetryIt int
}

// State returns the tracker's state for a later Resume.
func (k *Tracker) State() TrackerState {
	return TrackerState{Up: k.up, HasRun: k.hasRun, RetryIt: k.retryIt}
}

// Resume carries the state of the same checker from before a reload into
// this new tracker, as keepalived's migrate_checkers does: the state and
// has_run are kept, and a partly used retry count is kept but capped so that
// one more failure is enough under a smaller retry. Call it before the first
// Observe. (Rules that span the checkers of one real server, such as
// forcing alpha checkers down while another has failed, are the daemon's.)
func (k *Tracker) Resume(old TrackerState) {
	// A reloaded checker starts with a zero retry count (keepalived sets the
	// "one failure is enough" count only at first start).
	k.retryIt = 0
	if old.HasRun {
		k.up = old.Up
	}
	k.hasRun = old.HasRun
	if old.RetryIt > 0 && k.t.Retry > 0 {
		k.retryIt = min(old.RetryIt, k.t.Retry-1)
	}
}
