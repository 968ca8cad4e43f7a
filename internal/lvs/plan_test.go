package lvs

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// step is one checker report fed to a Plan: target id, up, and an
// optional misc_dynamic weight.
type step struct {
	id     int
	up     bool
	weight *int
	// table is the expected table after the step; msgs the expected
	// log lines and scripts ("run CMD"), in order.
	table string
	msgs  []string
}

func intp(v int) *int { return &v }

func effectLines(effs []Effect) []string {
	var out []string
	for _, e := range effs {
		if e.Script != nil {
			out = append(out, "run "+e.Script.Cmd)
			continue
		}
		out = append(out, e.Msg)
	}
	return out
}

// TestPlanHealth drives Plans through checker reports and checks the
// table and keepalived's messages after each (check/ipwrapper.c:
// perform_svr_state, update_quorum_state, update_svr_wgt).
func TestPlanHealth(t *testing.T) {
	tests := []struct {
		name      string
		conf      string
		start     string   // table after Start
		startMsgs []string // Start's effects
		steps     []step
	}{{
		name: "down removed, up added back",
		conf: `virtual_server 10.99.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.99.1.1 80 {
        weight 2
        notify_up "/x/up one"
        notify_down /x/down
        TCP_CHECK {
        }
    }
    real_server 10.99.1.2 80 {
        TCP_CHECK {
        }
    }
}`,
		start:     "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=nat weight=2\n  -> 10.99.1.2:80 fwd=nat weight=1\n",
		startMsgs: []string{"Gained quorum 1+0=1 <= 3 for VS [10.99.0.1]:tcp:80"},
		steps: []step{
			{id: 0, up: true, table: "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=nat weight=2\n  -> 10.99.1.2:80 fwd=nat weight=1\n"},
			{id: 0, up: false, table: "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.2:80 fwd=nat weight=1\n",
				msgs: []string{"Removing service [10.99.1.1]:tcp:80 from VS [10.99.0.1]:tcp:80", "run /x/down"}},
			{id: 1, up: false, table: "TCP 10.99.0.1:80 sched=rr\n",
				msgs: []string{"Removing service [10.99.1.2]:tcp:80 from VS [10.99.0.1]:tcp:80", "Lost quorum 1-0=1 > 0 for VS [10.99.0.1]:tcp:80"}},
			{id: 0, up: true, table: "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=nat weight=2\n",
				msgs: []string{"Adding service [10.99.1.1]:tcp:80 to VS [10.99.0.1]:tcp:80", "run /x/up one", "Gained quorum 1+0=1 <= 2 for VS [10.99.0.1]:tcp:80"}},
		},
	}, {
		name: "inhibit_on_failure keeps a failed server at weight 0",
		conf: `virtual_server 10.99.0.1 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    inhibit_on_failure
    real_server 10.99.1.1 80 {
        weight 3
        TCP_CHECK {
        }
    }
}`,
		start:     "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=dr weight=3\n",
		startMsgs: []string{"Gained quorum 1+0=1 <= 3 for VS [10.99.0.1]:tcp:80"},
		steps: []step{
			{id: 0, up: false, table: "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=dr weight=0\n",
				msgs: []string{"Disabling service [10.99.1.1]:tcp:80 of VS [10.99.0.1]:tcp:80", "Lost quorum 1-0=1 > 0 for VS [10.99.0.1]:tcp:80"}},
			{id: 0, up: true, table: "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=dr weight=3\n",
				msgs: []string{"Enabling service [10.99.1.1]:tcp:80 of VS [10.99.0.1]:tcp:80", "Gained quorum 1+0=1 <= 3 for VS [10.99.0.1]:tcp:80"}},
		},
	}, {
		name: "quorum with hysteresis brings the sorry server in and out",
		conf: `virtual_server 10.99.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    quorum 3
    hysteresis 1
    quorum_up /x/qup
    quorum_down /x/qdown
    sorry_server 10.99.1.9 8080
    real_server 10.99.1.1 80 {
        weight 2
        TCP_CHECK {
        }
    }
    real_server 10.99.1.2 80 {
        weight 2
        TCP_CHECK {
        }
    }
}`,
		start:     "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=nat weight=2\n  -> 10.99.1.2:80 fwd=nat weight=2\n",
		startMsgs: []string{"Gained quorum 3+1=4 <= 4 for VS [10.99.0.1]:tcp:80", "run /x/qup"},
		steps: []step{
			// 2 live < 3-1? no: 2 >= 2, quorum holds (hysteresis).
			{id: 0, up: false, table: "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.2:80 fwd=nat weight=2\n",
				msgs: []string{"Removing service [10.99.1.1]:tcp:80 from VS [10.99.0.1]:tcp:80"}},
			{id: 1, up: false, table: "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.9:8080 fwd=nat weight=1\n",
				msgs: []string{"Removing service [10.99.1.2]:tcp:80 from VS [10.99.0.1]:tcp:80",
					"Lost quorum 3-1=2 > 0 for VS [10.99.0.1]:tcp:80",
					"Adding sorry server [10.99.1.9]:tcp:8080 to VS [10.99.0.1]:tcp:80",
					"Removing alive servers from the pool for VS [10.99.0.1]:tcp:80", "run /x/qdown"}},
			// 2 live < 3+1: still down; the live server waits outside.
			{id: 0, up: true, table: "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.9:8080 fwd=nat weight=1\n",
				msgs: []string{"Adding service [10.99.1.1]:tcp:80 to VS [10.99.0.1]:tcp:80"}},
			{id: 1, up: true, table: "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=nat weight=2\n  -> 10.99.1.2:80 fwd=nat weight=2\n",
				msgs: []string{"Adding service [10.99.1.2]:tcp:80 to VS [10.99.0.1]:tcp:80",
					"Gained quorum 3+1=4 <= 4 for VS [10.99.0.1]:tcp:80",
					"Removing sorry server [10.99.1.9]:tcp:8080 from VS [10.99.0.1]:tcp:80",
					"Adding alive servers to the pool for VS [10.99.0.1]:tcp:80", "run /x/qup"}},
		},
	}, {
		name: "sorry_server_inhibit and inhibited real servers while quorum is lost",
		conf: `virtual_server 10.99.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    sorry_server 10.99.1.9 80
    sorry_server_inhibit
    real_server 10.99.1.1 80 {
        inhibit_on_failure
        TCP_CHECK {
        }
    }
}`,
		start:     "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=nat weight=1\n  -> 10.99.1.9:80 fwd=nat weight=0\n",
		startMsgs: []string{"Gained quorum 1+0=1 <= 1 for VS [10.99.0.1]:tcp:80"},
		steps: []step{
			{id: 0, up: false, table: "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=nat weight=0\n  -> 10.99.1.9:80 fwd=nat weight=1\n",
				msgs: []string{"Disabling service [10.99.1.1]:tcp:80 of VS [10.99.0.1]:tcp:80",
					"Lost quorum 1-0=1 > 0 for VS [10.99.0.1]:tcp:80",
					"Enabling sorry server [10.99.1.9]:tcp:80 to VS [10.99.0.1]:tcp:80",
					"Removing alive servers from the pool for VS [10.99.0.1]:tcp:80"}},
			{id: 0, up: true, table: "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=nat weight=1\n  -> 10.99.1.9:80 fwd=nat weight=0\n",
				msgs: []string{"Enabling service [10.99.1.1]:tcp:80 of VS [10.99.0.1]:tcp:80",
					"Gained quorum 1+0=1 <= 1 for VS [10.99.0.1]:tcp:80",
					"Disabling sorry server [10.99.1.9]:tcp:80 from VS [10.99.0.1]:tcp:80",
					"Adding alive servers to the pool for VS [10.99.0.1]:tcp:80"}},
		},
	}, {
		name: "alpha starts down and the sorry server in",
		conf: `virtual_server 10.99.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    alpha
    sorry_server 10.99.1.9 80
    real_server 10.99.1.1 80 {
        TCP_CHECK {
        }
    }
    real_server 10.99.1.2 80 {
    }
}`,
		// The real server without a checker is up at once, so quorum 1
		// holds; the alpha one waits for its first success.
		start:     "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.2:80 fwd=nat weight=1\n",
		startMsgs: []string{"Gained quorum 1+0=1 <= 1 for VS [10.99.0.1]:tcp:80"},
		steps: []step{
			{id: 0, up: true, table: "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=nat weight=1\n  -> 10.99.1.2:80 fwd=nat weight=1\n",
				msgs: []string{"Adding service [10.99.1.1]:tcp:80 to VS [10.99.0.1]:tcp:80"}},
		},
	}, {
		name: "alpha with every server checked starts with quorum down",
		conf: `virtual_server 10.99.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    alpha
    sorry_server 10.99.1.9 80
    real_server 10.99.1.1 80 {
        TCP_CHECK {
        }
    }
}`,
		start: "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.9:80 fwd=nat weight=1\n",
		startMsgs: []string{"Starting with quorum down 1-0=1 > 0 for VS [10.99.0.1]:tcp:80",
			"Adding sorry server [10.99.1.9]:tcp:80 to VS [10.99.0.1]:tcp:80",
			"Removing alive servers from the pool for VS [10.99.0.1]:tcp:80"},
		steps: []step{
			// A first failure of an alpha checker changes nothing.
			{id: 0, up: false, table: "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.9:80 fwd=nat weight=1\n"},
			{id: 0, up: true, table: "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=nat weight=1\n",
				msgs: []string{"Adding service [10.99.1.1]:tcp:80 to VS [10.99.0.1]:tcp:80",
					"Gained quorum 1+0=1 <= 1 for VS [10.99.0.1]:tcp:80",
					"Removing sorry server [10.99.1.9]:tcp:80 from VS [10.99.0.1]:tcp:80",
					"Adding alive servers to the pool for VS [10.99.0.1]:tcp:80"}},
		},
	}, {
		name: "misc_dynamic weight",
		conf: `virtual_server 10.99.0.1 80 {
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    real_server 10.99.1.1 80 {
        weight 4
        MISC_CHECK {
            misc_path /x/check
            misc_dynamic
        }
    }
}`,
		start:     "TCP 10.99.0.1:80 sched=wrr\n  -> 10.99.1.1:80 fwd=nat weight=4\n",
		startMsgs: []string{"Gained quorum 1+0=1 <= 4 for VS [10.99.0.1]:tcp:80"},
		steps: []step{
			{id: 0, up: true, weight: intp(10), table: "TCP 10.99.0.1:80 sched=wrr\n  -> 10.99.1.1:80 fwd=nat weight=10\n",
				msgs: []string{"Changing weight from 4 to 10 for active service [10.99.1.1]:tcp:80 of VS [10.99.0.1]:tcp:80"}},
			{id: 0, up: true, weight: intp(0), table: "TCP 10.99.0.1:80 sched=wrr\n  -> 10.99.1.1:80 fwd=nat weight=0\n",
				msgs: []string{"Changing weight from 10 to 0 for active service [10.99.1.1]:tcp:80 of VS [10.99.0.1]:tcp:80",
					"Lost quorum 1-0=1 > 0 for VS [10.99.0.1]:tcp:80"}},
			{id: 0, up: true, table: "TCP 10.99.0.1:80 sched=wrr\n  -> 10.99.1.1:80 fwd=nat weight=4\n",
				msgs: []string{"Changing weight from 0 to 4 for active service [10.99.1.1]:tcp:80 of VS [10.99.0.1]:tcp:80",
					"Gained quorum 1+0=1 <= 4 for VS [10.99.0.1]:tcp:80"}},
		},
	}, {
		name: "two checkers: down when one fails, up when both pass",
		conf: `virtual_server 10.99.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.99.1.1 80 {
        TCP_CHECK {
        }
        HTTP_GET {
            url {
                path /
            }
        }
    }
    real_server 10.99.1.2 80 {
    }
}`,
		start:     "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=nat weight=1\n  -> 10.99.1.2:80 fwd=nat weight=1\n",
		startMsgs: []string{"Gained quorum 1+0=1 <= 2 for VS [10.99.0.1]:tcp:80"},
		steps: []step{
			{id: 0, up: false, table: "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.2:80 fwd=nat weight=1\n",
				msgs: []string{"Removing service [10.99.1.1]:tcp:80 from VS [10.99.0.1]:tcp:80"}},
			{id: 1, up: false, table: "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.2:80 fwd=nat weight=1\n"},
			{id: 0, up: true, table: "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.2:80 fwd=nat weight=1\n"},
			{id: 1, up: true, table: "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=nat weight=1\n  -> 10.99.1.2:80 fwd=nat weight=1\n",
				msgs: []string{"Adding service [10.99.1.1]:tcp:80 to VS [10.99.0.1]:tcp:80"}},
		},
	}, {
		name: "a group: one real server change touches every member service",
		conf: `virtual_server_group g {
    10.99.0.1-2 80
    fwmark 3
}
virtual_server group g {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.99.1.1 80 {
        TCP_CHECK {
        }
    }
    real_server 10.99.1.2 80 {
    }
}`,
		start:     "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=dr weight=1\n  -> 10.99.1.2:80 fwd=dr weight=1\nTCP 10.99.0.2:80 sched=rr\n  -> 10.99.1.1:80 fwd=dr weight=1\n  -> 10.99.1.2:80 fwd=dr weight=1\nFWM 3 sched=rr\n  -> 10.99.1.1:0 fwd=dr weight=1\n  -> 10.99.1.2:0 fwd=dr weight=1\n",
		startMsgs: []string{"Gained quorum 1+0=1 <= 2 for VS [g]:0"},
		steps: []step{
			{id: 0, up: false, table: "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.2:80 fwd=dr weight=1\nTCP 10.99.0.2:80 sched=rr\n  -> 10.99.1.2:80 fwd=dr weight=1\nFWM 3 sched=rr\n  -> 10.99.1.2:0 fwd=dr weight=1\n",
				msgs: []string{"Removing service [10.99.1.1]:tcp:80 from VS [g]:0"}},
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, ds := NewPlan(mustLoad(t, tc.conf))
			for _, d := range ds {
				t.Logf("plan: %s", d.Msg)
			}
			msgs := effectLines(p.Start())
			if diff := cmp.Diff(tc.startMsgs, msgs); diff != "" {
				t.Errorf("Start effects (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.start, p.Table().String()); diff != "" {
				t.Errorf("table after Start (-want +got):\n%s", diff)
			}
			for i, s := range tc.steps {
				msgs := effectLines(p.Observe(s.id, s.up, s.weight))
				if diff := cmp.Diff(s.msgs, msgs); diff != "" {
					t.Errorf("step %d (%d up=%v) effects (-want +got):\n%s", i, s.id, s.up, diff)
				}
				if diff := cmp.Diff(s.table, p.Table().String()); diff != "" {
					t.Errorf("step %d (%d up=%v) table (-want +got):\n%s", i, s.id, s.up, diff)
				}
				if err := p.Table().Validate(); err != nil {
					t.Errorf("step %d: invalid table: %v", i, err)
				}
			}
		})
	}
}

// TestPlanCorrections: keepalived's corrections are applied and reported.
func TestPlanCorrections(t *testing.T) {
	p, ds := NewPlan(mustLoad(t, `virtual_server 10.99.0.1 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    quorum 10
    hysteresis 20
    ops
    real_server 10.99.1.1 8080 {
        weight 2
    }
    real_server 10.99.1.1 8080 {
    }
}`))
	var got []string
	for _, d := range ds {
		got = append(got, d.Msg)
	}
	want := []string{
		"Virtual server [10.99.0.1]:tcp:80: one packet scheduling requires UDP - resetting",
		"WARNING - virtual server [10.99.0.1]:tcp:80 and real server [10.99.1.1]:tcp:8080 ports don't match - resetting",
		"VS [10.99.0.1]:tcp:80: real server [10.99.1.1]:tcp:8080 is duplicated - removing second rs",
		"Warning - quorum 10 for [10.99.0.1]:tcp:80 exceeds total weight of real servers 2, reducing quorum to 2",
		"Virtual server [10.99.0.1]:tcp:80: hysteresis 20 >= quorum 2; setting hysteresis to 1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
	}
	p.Start()
	if got, want := p.Table().String(), "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=dr weight=2\n"; got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	if p.Pools[0].quorum != 2 || p.Pools[0].hysteresis != 1 {
		t.Errorf("quorum, hysteresis = %d, %d; want 2, 1", p.Pools[0].quorum, p.Pools[0].hysteresis)
	}
	if !strings.Contains(p.Pools[0].Reals[0].Name, ":80") {
		t.Errorf("real server name %q keeps the wrong port", p.Pools[0].Reals[0].Name)
	}
}

// TestPlanSkipsMixedFamilies: a real server of the other family is left
// out with a warning instead of making the whole table invalid.
func TestPlanSkipsMixedFamilies(t *testing.T) {
	p, ds := NewPlan(mustLoad(t, `virtual_server 10.99.0.1 80 {
    lb_algo rr
    lb_kind TUN
    protocol TCP
    real_server fd00:99::1 80 {
    }
    real_server 10.99.1.1 80 {
    }
}`))
	if len(ds) != 1 || !strings.Contains(ds[0].Msg, "[fd00:99::1]:tcp:80 is not of the virtual server's address family") {
		t.Errorf("diagnostics = %v", ds)
	}
	p.Start()
	if got, want := p.Table().String(), "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=tun weight=1\n"; got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}
