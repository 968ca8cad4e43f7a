package daemon

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/conf"
	"github.com/vigil-ha/vigil/internal/vrrp"
)

func syncGroupConfig(prio2 uint8) *conf.Config {
	vi2 := instanceConf("VI_2", 2, prio2)
	vi2.Interface = "eth1"
	c := testConfig(instanceConf("VI_1", 1, 100), vi2, instanceConf("VI_3", 3, 100))
	c.SyncGroups = []*conf.SyncGroup{{Name: "VG_1", Group: []conf.TrackRef{{Name: "VI_1"}, {Name: "VI_2"}}}}
	return c
}

// keepalived.conf(5) vrrp_sync_group through the daemon: the members run
// as one group, a fault of one (its interface down) takes both to FAULT
// while the instance outside the group stays MASTER, and a reload that
// changes a member restarts the whole group.
func TestSyncGroupRunsTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, syncGroupConfig(100))
		defer r.stop(t)
		time.Sleep(4 * time.Second)
		synctest.Wait()
		var names []string
		for _, rn := range r.d.Runners() {
			names = append(names, rn.Name()+"/"+rn.Snapshot().Group)
		}
		if diff := cmp.Diff([]string{"VI_1/VG_1", "VI_2/VG_1", "VI_3/"}, names); diff != "" {
			t.Errorf("runners (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[string]string{"VI_1": "MASTER", "VI_2": "MASTER", "VI_3": "MASTER"}, r.states()); diff != "" {
			t.Fatalf("states (-want +got):\n%s", diff)
		}
		r.edges.links <- vrrp.LinkEvent{Name: "eth1", Up: false}
		synctest.Wait()
		if diff := cmp.Diff(map[string]string{"VI_1": "FAULT", "VI_2": "FAULT", "VI_3": "MASTER"}, r.states()); diff != "" {
			t.Fatalf("states after eth1 down (-want +got):\n%s", diff)
		}
		r.edges.links <- vrrp.LinkEvent{Name: "eth1", Up: true}
		synctest.Wait()
		time.Sleep(4 * time.Second)
		synctest.Wait()
		if diff := cmp.Diff(map[string]string{"VI_1": "MASTER", "VI_2": "MASTER", "VI_3": "MASTER"}, r.states()); diff != "" {
			t.Fatalf("states after eth1 up (-want +got):\n%s", diff)
		}

		res, err := r.d.Reload(t.Context(), syncGroupConfig(100))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(ReloadResult{Kept: []string{"VI_1", "VI_2", "VI_3"}}, res, cmpSorted); diff != "" {
			t.Errorf("unchanged reload (-want +got):\n%s", diff)
		}
		res, err = r.d.Reload(t.Context(), syncGroupConfig(120))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(ReloadResult{Kept: []string{"VI_3"}, Restarted: []string{"VI_1", "VI_2"}}, res, cmpSorted); diff != "" {
			t.Errorf("reload changing VI_2 (-want +got):\n%s", diff)
		}
	})
}

// The group's notify script gets GROUP VG_1 STATE 0 (keepalived
// send_group_notifies), after the members' transitions.
func TestSyncGroupNotifyScript(t *testing.T) {
	dir := t.TempDir()
	out := dir + "/calls"
	script := dir + "/record.sh"
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := syncGroupConfig(100)
	for _, vi := range c.Instances {
		vi.Version = 3
		vi.AdvertInt = 100 * time.Millisecond
	}
	c.SyncGroups[0].Notify.Any = &conf.Script{Cmd: script}
	d, err := New(c, &fakeEdges{links: make(chan vrrp.LinkEvent)}, Options{}, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	waitLines(t, out, 2)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	want := []string{"GROUP VG_1 BACKUP 0", "GROUP VG_1 MASTER 0", "GROUP VG_1 STOP 0"}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSpace(string(b)), "\n")); diff != "" {
		t.Errorf("group notify calls (-want +got):\n%s", diff)
	}
}
