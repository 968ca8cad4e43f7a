package check

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// step is one probe fed to a Tracker and what must follow. Step is the URL
// the tracker asked to be probed.
type step struct {
	Step    int
	OK      bool
	Delay   time.Duration
	Up      bool
	Report  bool
	Changed bool
}

// parseSteps reads lines "step ok|fail -> delay up|down [report] [changed]".
func parseSteps(t *testing.T, script string) []step {
	t.Helper()
	var out []step
	for _, line := range strings.Split(strings.TrimSpace(script), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[2] != "->" {
			t.Fatalf("bad script line %q", line)
		}
		var s step
		s.Step = int(f[0][0] - '0')
		s.OK = f[1] == "ok"
		d, err := time.ParseDuration(f[3])
		if err != nil {
			t.Fatalf("bad delay in %q: %v", line, err)
		}
		s.Delay = d
		s.Up = f[4] == "up"
		for _, w := range f[5:] {
			switch w {
			case "report":
				s.Report = true
			case "changed":
				s.Changed = true
			default:
				t.Fatalf("bad word %q in %q", w, line)
			}
		}
		out = append(out, s)
	}
	return out
}

func TestTrackerFollowsKeepalivedEpilogs(t *testing.T) {
	base := Timing{DelayLoop: 10 * time.Second, DelayBeforeRetry: 3 * time.Second, Retry: 1}
	with := func(f func(*Timing)) Timing { tm := base; f(&tm); return tm }
	tests := []struct {
		name   string
		policy Policy
		timing Timing
		steps  int
		script string
	}{
		{
			// check_tcp.c tcp_epilog: the start state has the retry counter
			// used up, so a first failure is final; while down, failures
			// alternate delay_before_retry and delay_loop.
			name: "tcp first failure is final, retries continue while down", policy: PolicyTCP, timing: base,
			script: `
0 fail -> 10s down report changed
0 fail -> 3s down
0 fail -> 10s down
0 ok -> 10s up report changed
0 fail -> 3s up
0 fail -> 10s down report changed
0 ok -> 10s up report changed
0 ok -> 10s up`,
		},
		{
			name: "tcp first success settles the state", policy: PolicyTCP, timing: base,
			script: `
0 ok -> 10s up report
0 ok -> 10s up
0 fail -> 3s up
0 ok -> 10s up`,
		},
		{
			name: "tcp alpha starts down", policy: PolicyTCP, timing: with(func(t *Timing) { t.Alpha = true }),
			script: `
0 fail -> 10s down report
0 ok -> 10s up report changed`,
		},
		{
			name: "tcp retry 0", policy: PolicyTCP, timing: with(func(t *Timing) { t.Retry = 0 }),
			script: `
0 ok -> 10s up report
0 fail -> 10s down report changed
0 fail -> 10s down`,
		},
		{
			name: "tcp retry 3 takes four failures", policy: PolicyTCP, timing: with(func(t *Timing) { t.Retry = 3 }),
			script: `
0 ok -> 10s up report
0 fail -> 3s up
0 fail -> 3s up
0 fail -> 3s up
0 fail -> 10s down report changed`,
		},
		{
			// check_http.c epilog: one URL per delay_loop; a failed URL is
			// retried after delay_before_retry; once down, the failed URL is
			// probed every max(delay_before_retry, delay_loop), and when it
			// passes all URLs are walked again before the server is up.
			name: "http two urls", policy: PolicyHTTP, timing: base, steps: 2,
			script: `
0 ok -> 10s up
1 ok -> 10s up report
0 ok -> 10s up
1 fail -> 3s up
1 fail -> 10s down report changed
1 fail -> 10s down
1 ok -> 10s down
0 ok -> 10s down
1 ok -> 10s up report changed
0 ok -> 10s up`,
		},
		{
			name: "http first failure is final", policy: PolicyHTTP, timing: base, steps: 1,
			script: `
0 fail -> 10s down report changed
0 ok -> 10s down
0 ok -> 10s up report changed`,
		},
		{
			name: "http delay_before_retry above delay_loop", policy: PolicyHTTP, steps: 1,
			timing: with(func(t *Timing) { t.DelayBeforeRetry = 15 * time.Second }),
			script: `
0 ok -> 10s up report
0 fail -> 15s up
0 fail -> 15s down report changed
0 fail -> 15s down`,
		},
		{
			name: "http fast_recovery", policy: PolicyHTTP, steps: 2,
			timing: with(func(t *Timing) { t.FastRecovery = true }),
			script: `
0 ok -> 0s up
1 ok -> 10s up report
0 fail -> 3s up
0 fail -> 10s down report changed
0 ok -> 0s down
0 ok -> 0s down
1 ok -> 10s up report changed`,
		},
		{
			// With alpha the first failure marks the URL failed without a
			// report, so two passes are needed to come up.
			name: "http alpha", policy: PolicyHTTP, steps: 1, timing: with(func(t *Timing) { t.Alpha = true }),
			script: `
0 fail -> 10s down
0 fail -> 10s down
0 ok -> 10s down
0 ok -> 10s up report changed`,
		},
		{
			// check_smtp.c smtp_final: after the retries are spent no more
			// retries until a success resets the counter.
			name: "smtp", policy: PolicySMTP, timing: base,
			script: `
0 fail -> 10s down report changed
0 fail -> 10s down
0 ok -> 10s up report changed
0 fail -> 3s up
0 fail -> 10s down report changed
0 fail -> 10s down
0 ok -> 10s up report changed`,
		},
		{
			// check_dns.c dns_final: retries only while up.
			name: "dns", policy: PolicyDNS, timing: with(func(t *Timing) { t.Retry = 3 }),
			script: `
0 fail -> 10s down report changed
0 fail -> 10s down
0 ok -> 10s up report changed
0 fail -> 3s up
0 fail -> 3s up
0 fail -> 3s up
0 fail -> 10s down report changed
0 ok -> 10s up report changed`,
		},
		{
			name: "misc retry 0", policy: PolicyMisc, timing: with(func(t *Timing) { t.Retry = 0 }),
			script: `
0 ok -> 10s up report
0 fail -> 10s down report changed
0 fail -> 10s down
0 ok -> 10s up report changed`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := parseSteps(t, tc.script)
			k := NewTracker(tc.policy, tc.timing, tc.steps)
			var got []step
			for _, w := range want {
				s := step{Step: k.Step(), OK: w.OK}
				o := k.Observe(w.OK)
				s.Delay, s.Up, s.Report, s.Changed = o.Delay, o.Up, o.Report, o.Changed
				if o.FromStart != (tc.policy == PolicyMisc) {
					t.Errorf("FromStart = %v for policy %d", o.FromStart, tc.policy)
				}
				got = append(got, s)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultTimingMatchesManPage(t *testing.T) {
	tests := []struct {
		p    Policy
		want Timing
	}{
		{PolicyTCP, Timing{DelayLoop: 60 * time.Second, DelayBeforeRetry: time.Second, Retry: 1, Warmup: 60 * time.Second, Timeout: 5 * time.Second}},
		{PolicyHTTP, Timing{DelayLoop: 60 * time.Second, DelayBeforeRetry: 3 * time.Second, Retry: 1, Warmup: 60 * time.Second, Timeout: 5 * time.Second}},
		{PolicyDNS, Timing{DelayLoop: 60 * time.Second, DelayBeforeRetry: 60 * time.Second, Retry: 3, Warmup: 60 * time.Second, Timeout: 5 * time.Second}},
		{PolicyMisc, Timing{DelayLoop: 60 * time.Second, DelayBeforeRetry: time.Second, Retry: 0, Warmup: 60 * time.Second, Timeout: 60 * time.Second}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, DefaultTiming(tc.p, 0)); diff != "" {
			t.Errorf("policy %d (-want +got):\n%s", tc.p, diff)
		}
	}
}

func TestFirstDelayIsBootstrapPlusWarmup(t *testing.T) {
	k := NewTracker(PolicyTCP, Timing{DelayLoop: 5 * time.Second, Warmup: 4 * time.Second}, 1)
	for _, tc := range []struct {
		rnd  float64
		want time.Duration
	}{{0, time.Second}, {0.5, 3 * time.Second}, {0.999, time.Second + 3996*time.Millisecond}} {
		if got := k.FirstDelay(tc.rnd); got != tc.want {
			t.Errorf("FirstDelay(%v) = %v, want %v", tc.rnd, got, tc.want)
		}
	}
}

func TestTrackerResumeAfterReload(t *testing.T) {
	tm := Timing{DelayLoop: 10 * time.Second, DelayBeforeRetry: 3 * time.Second, Retry: 3}
	tests := []struct {
		name     string
		old      TrackerState
		retry    int
		wantUp   bool
		firstOut Outcome // outcome of one failure after the reload
	}{
		{"down checker stays down, failure reports nothing", TrackerState{Up: false, HasRun: true}, 3, false,
			Outcome{Delay: 3 * time.Second, Up: false}},
		{"up checker keeps its retries", TrackerState{Up: true, HasRun: true}, 3, true,
			Outcome{Delay: 3 * time.Second, Up: true}},
		// ipwrapper.c migrate_checkers caps retry_it at retry-1.
		{"used retries are capped below the new retry", TrackerState{Up: true, HasRun: true, RetryIt: 5}, 3, true,
			Outcome{Delay: 3 * time.Second, Up: true}},
		{"retry now 0: next failure is final", TrackerState{Up: true, HasRun: true, RetryIt: 2}, 0, true,
			Outcome{Delay: 10 * time.Second, Up: false, Report: true, Changed: true}},
		{"not yet run keeps alpha default", TrackerState{Up: false, HasRun: false}, 3, true,
			Outcome{Delay: 3 * time.Second, Up: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tt := tm
			tt.Retry = tc.retry
			k := NewTracker(PolicyTCP, tt, 1)
			k.Resume(tc.old)
			if k.Up() != tc.wantUp {
				t.Errorf("Up after Resume = %v, want %v", k.Up(), tc.wantUp)
			}
			if diff := cmp.Diff(tc.firstOut, k.Observe(false)); diff != "" {
				t.Errorf("first failure after reload (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTrackerResumeCapsRetryCount(t *testing.T) {
	k := NewTracker(PolicyTCP, Timing{DelayLoop: 10 * time.Second, DelayBeforeRetry: time.Second, Retry: 3}, 1)
	k.Resume(TrackerState{Up: true, HasRun: true, RetryIt: 5})
	if got := k.State(); got != (TrackerState{Up: true, HasRun: true, RetryIt: 2}) {
		t.Errorf("State after Resume = %+v, want RetryIt 2 (retry-1)", got)
	}
	// retry_it 2 of 3: one retry left, then the failure is final.
	if o := k.Observe(false); o.Delay != time.Second || !o.Up {
		t.Errorf("first failure = %+v, want a retry", o)
	}
	if o := k.Observe(false); o.Up || !o.Changed {
		t.Errorf("second failure = %+v, want DOWN", o)
	}
}
