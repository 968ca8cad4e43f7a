package interop

import (
	"net"
	"net/mail"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/nettest"
)

// labExim is a Debian exim4 running in a lab host's namespace, listening
// on 127.0.0.1:2525 there and delivering every message to a maildir.
type labExim struct {
	addr    string
	maildir string
}

// labEximConf is a minimal exim configuration that accepts everything on
// loopback and delivers it into {{dir}}/Maildir.
const labEximConf = `primary_hostname = vigil.test
exim_user = Debian-exim
exim_group = Debian-exim
spool_directory = {{dir}}/spool
log_file_path = {{dir}}/log/%slog
pid_file_path = {{dir}}/exim.pid
daemon_smtp_ports = 2525
local_interfaces = <; 127.0.0.1
never_users = root
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
keep_environment =
acl_smtp_rcpt = acl_rcpt
begin acl
acl_rcpt:
  accept
begin routers
all:
  driver = accept
  transport = maildir_t
begin transports
maildir_t:
  driver = appendfile
  directory = {{dir}}/Maildir
  maildir_format
  create_directory
  user = Debian-exim
  group = Debian-exim
  mode = 0644
begin retry
* * F,1m,1m
`

// startLabExim starts exim4 in the foreground inside h's namespace; it
// skips the test when exim4 (Debian package exim4-daemon-light) or its
// Debian-exim user is missing.
func startLabExim(t *testing.T, h *nettest.Host) *labExim {
	t.Helper()
	bin, err := exec.LookPath("exim4")
	if err != nil {
		t.Skipf("skipping: exim4 not installed (Debian package exim4-daemon-light): %v", err)
	}
	u, err := user.Lookup("Debian-exim")
	if err != nil {
		t.Skipf("skipping: no Debian-exim user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// Not t.TempDir (0700): exim's user must traverse it.
	dir, err := os.MkdirTemp("", "vigil-interop-exim-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"spool", "log", "Maildir"} {
		p := filepath.Join(dir, d)
		if err := os.Mkdir(p, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	confPath := filepath.Join(dir, "exim.conf")
	if err := os.WriteFile(confPath, []byte(strings.ReplaceAll(labEximConf, "{{dir}}", dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", h.Name, bin, "-C", confPath, "-bdf", "-odi")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "log", "mainlog"))
			t.Logf("exim output:\n%s\nexim mainlog:\n%s", out.String(), log)
		}
	})
	e := &labExim{addr: "127.0.0.1:2525", maildir: filepath.Join(dir, "Maildir")}
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := h.Do(func() error {
			c, err := net.DialTimeout("tcp", e.addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err == nil {
			return e
		}
		select {
		case err := <-exited:
			t.Fatalf("exim4 exited before listening: %v\n%s", err, out.String())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			t.Fatalf("exim4 not listening on %s in %s after 10 s: %v\n%s", e.addr, h.Name, err, out.String())
		}
	}
}

// subjects returns the subjects of the delivered messages in delivery
// order (exim delivers them one at a time as they arrive: -odi), and
// fails the test on a message it cannot parse.
func (e *labExim) subjects(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(e.maildir, "new", "*"))
	mtime := func(f string) time.Time {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		return st.ModTime()
	}
	slices.SortFunc(files, func(a, b string) int { return mtime(a).Compare(mtime(b)) })
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(strings.NewReader(string(b)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, m.Header.Get("Subject"))
	}
	return out
}

// waitSubjects polls the maildir until the subjects delivered are want,
// in order.
func (e *labExim) waitSubjects(t *testing.T, want []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		got := e.subjects(t)
		if len(got) >= len(want) {
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("mails delivered (-want +got):\n%s", d)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d mails delivered within %v: %q", len(got), len(want), timeout, got)
		}
		<-tick.C
	}
}

// waitSubject polls the maildir until a message with subject arrives.
func (e *labExim) waitSubject(t *testing.T, subject string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		got := e.subjects(t)
		if slices.Contains(got, subject) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail %q delivered within %v; delivered: %q", subject, timeout, got)
		}
		<-tick.C
	}
}

// TestSMTPAlertThroughExim: with smtp_alert and smtp_server pointing at a
// real exim4 on loopback inside the subject's namespace, the subject
// (vigil, or keepalived as the reference) that becomes master of VI_1
// mails "[interop] VRRP Instance VI_1 - Entering MASTER state"; when the
// keepalived or vigil peer (priority 200) then takes over, it mails
// "... Entering BACKUP state" (keepalived.conf(5) smtp_alert,
// notification_email; keepalived 2.2.7 vrrp_notify.c subjects). The set
// of mails both daemons send for the same events, in order, must be the
// same: BACKUP (at start), MASTER, BACKUP.
func TestSMTPAlertThroughExim(t *testing.T) {
	lab := nettest.NewLab(t, 2, nettest.Options{})
	sh, ph := lab.Hosts[0], lab.Hosts[1]
	const advInt = 100 * time.Millisecond
	got := map[string][]string{}
	for i, subject := range []string{"keepalived", "vigil"} {
		t.Run("subject="+subject, func(t *testing.T) {
			mta := startLabExim(t, sh)
			vip := labVIP(lab, 210+i, false)
			inst := vrrpConf{Name: "VI_1", VRID: 210 + i, Version: 3, Priority: 150, AdvertInt: advInt, VIP: vip,
				Extra: []string{"smtp_alert"}}
			sconf := daemonConf{
				Global: []string{
					"notification_email {\n    ops@vigil.test\n  }",
					"notification_email_from keepalived@interop.vigil.test",
					"smtp_server 127.0.0.1 2525",
					"smtp_connect_timeout 5",
				},
				Instances: []vrrpConf{inst},
			}
			pinst := inst
			pinst.Priority, pinst.Extra = 200, nil
			pconf := daemonConf{Instances: []vrrpConf{pinst}}

			s := startNode(t, subject, sh, sconf.render())
			mustLog(t, s, 0, reMaster, 10*time.Second)
			lab.WaitHeldBy(t, vip.Addr(), 5*time.Second, sh)
			mta.waitSubject(t, "[interop] VRRP Instance VI_1 - Entering MASTER state", 20*time.Second)

			mark := s.Mark()
			p := startNode(t, otherKind(subject), ph, pconf.render())
			mustLog(t, p, 0, reMaster, 10*time.Second)
			mustLog(t, s, mark, reBackup, 5*time.Second)
			lab.WaitHeldBy(t, vip.Addr(), 5*time.Second, ph)
			mta.waitSubjects(t, []string{
				"[interop] VRRP Instance VI_1 - Entering BACKUP state",
				"[interop] VRRP Instance VI_1 - Entering MASTER state",
				"[interop] VRRP Instance VI_1 - Entering BACKUP state",
			}, 20*time.Second)
			got[subject] = mta.subjects(t)
			t.Logf("%s mailed: %q", subject, got[subject])
			// SIGTERM's "Stopping" mail is left out: keepalived 2.2.7
			// queues it (vrrp_notify.c notify_shutdown) but exits before
			// sending it, and vigil sends it or not depending on timing.
		})
	}
	if k, v := got["keepalived"], got["vigil"]; k != nil && v != nil {
		if d := cmp.Diff(k, v); d != "" {
			t.Errorf("mail subjects (-keepalived +vigil):\n%s", d)
		}
	}
}
