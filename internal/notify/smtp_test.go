package notify

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// keepalived vrrp/vrrp_notify.c vrrp_smtp_notifier / vrrp_sync_smtp_notifier
// and core/smtp.c smtp_alert.
func TestAlertSubjectsAndBodies(t *testing.T) {
	tests := []struct {
		group bool
		st    State
		want  Mail
		ok    bool
	}{
		{false, StateMaster, Mail{"[lb1] VRRP Instance VI_1 - Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <="}, true},
		{false, StateBackup, Mail{"[lb1] VRRP Instance VI_1 - Entering BACKUP state", "=> VRRP Instance is no longer owning VRRP VIPs <="}, true},
		{false, StateFault, Mail{"[lb1] VRRP Instance VI_1 - Entering FAULT state", "=> VRRP Instance is no longer owning VRRP VIPs <="}, true},
		{false, StateStop, Mail{"[lb1] VRRP Instance VI_1 - Stopping", "=> VRRP Instance stopping <="}, true},
		{false, StateDeleted, Mail{"[lb1] VRRP Instance VI_1 - Deleted", "=> VRRP Deleted at reload <="}, true},
		{false, EventMasterRxLowerPri, Mail{}, false},
		{true, StateMaster, Mail{"[lb1] VRRP Group VI_1 - Entering MASTER state", "=> All VRRP group instances are now in MASTER state <="}, true},
		{true, StateBackup, Mail{"[lb1] VRRP Group VI_1 - Entering BACKUP state", "=> All VRRP group instances are now in BACKUP state <="}, true},
		{true, StateFault, Mail{"[lb1] VRRP Group VI_1 - Entering FAULT state", "=> All VRRP group instances are now in FAULT state <="}, true},
		{true, StateStop, Mail{"[lb1] VRRP Group VI_1 - Stopping", "=> All VRRP group instances are now stopping <="}, true},
		{true, StateDeleted, Mail{}, false},
	}
	for _, tt := range tests {
		var got Mail
		var ok bool
		if tt.group {
			got, ok = GroupMail("lb1", "VI_1", tt.st)
		} else {
			got, ok = InstanceMail("lb1", "VI_1", tt.st)
		}
		if ok != tt.ok || got != tt.want {
			t.Errorf("group=%v %v: got %+v, %v; want %+v, %v", tt.group, tt.st, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFormatMessageGolden(t *testing.T) {
	cfg := MailConfig{From: "keepalived@lb1.example", To: []string{"ops@example.com", "noc@example.com"}}
	m, _ := InstanceMail("lb1", "VI_1", StateMaster)
	got := formatMessage(cfg, m, time.Date(2021, 3, 1, 9, 44, 8, 0, time.FixedZone("", 0)))
	golden := filepath.Join("testdata", "mail_master.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
}

// The alert must be byte-for-byte what keepalived 2.2.7 sends (captured
// through exim; see testdata/README).
func TestFormatMessageMatchesKeepalived(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "keepalived-2.2.7-master.eml"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.ReplaceAll(string(raw), "\n", "\r\n")
	msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	date, err := msg.Header.Date()
	if err != nil {
		t.Fatal(err)
	}
	m, _ := InstanceMail("lb1", "VI_1", StateMaster)
	cfg := MailConfig{From: "keepalived@lb1.vigil.test", To: []string{"ops@vigil.test", "noc@vigil.test"}}
	if diff := cmp.Diff(want, formatMessage(cfg, m, date)); diff != "" {
		t.Errorf("differs from keepalived's message (-keepalived +vigil):\n%s", diff)
	}
}

func TestFormatMessageDotStuffing(t *testing.T) {
	got := formatMessage(MailConfig{From: "a@b", To: []string{"c@d"}}, Mail{Subject: "s\r\nBcc: x", Body: ".hidden\nok"}, time.Unix(0, 0))
	if !strings.Contains(got, "\r\n..hidden\r\nok\r\n") {
		t.Errorf("body line starting with '.' not doubled: %q", got)
	}
	if strings.Contains(got, "\r\nBcc:") {
		t.Errorf("subject injected a header: %q", got)
	}
}

func TestSendMailConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	err = SendMail(context.Background(), MailConfig{Server: addr, To: []string{"a@b"}, ConnectTimeout: 5 * time.Second}, Mail{Subject: "s", Body: "b"}, time.Now())
	var se *SMTPError
	if !errors.As(err, &se) || se.Cmd != "connect" {
		t.Fatalf("SendMail to closed port = %v, want SMTPError on connect", err)
	}
}

// eximServer is a real Debian exim4 listening on loopback with a
// configuration generated for the test, delivering every message into a
// maildir.
type eximServer struct {
	addr    string
	maildir string
	mainlog string
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

const eximConf = `primary_hostname = vigil.test
exim_user = Debian-exim
exim_group = Debian-exim
spool_directory = {{dir}}/spool
log_file_path = {{dir}}/log/%slog
pid_file_path = {{dir}}/exim.pid
daemon_smtp_ports = {{port}}
local_interfaces = <; 127.0.0.1
never_users = root
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
keep_environment =
acl_smtp_rcpt = acl_rcpt
begin acl
acl_rcpt:
  deny recipients = reject@vigil.test
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

// startExim starts exim4 in the foreground on a free loopback port; it
// is stopped when the test ends. It skips the test when exim4 (Debian
// package exim4-daemon-light) is missing, without root (exim must switch
// to Debian-exim), or with -short.
func startExim(t *testing.T) *eximServer {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the SMTP delivery test against a real exim4")
	}
	bin, err := exec.LookPath("exim4")
	if err != nil {
		t.Skipf("exim4 not installed (Debian package exim4-daemon-light): %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skipf("exim4 with a test configuration needs root to switch to its user; running as uid %d", os.Geteuid())
	}
	u, err := user.Lookup("Debian-exim")
	if err != nil {
		t.Skipf("no Debian-exim user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// Not t.TempDir: exim's user must be able to traverse it.
	dir, err := os.MkdirTemp("", "vigil-exim-")
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
	port := freePort(t)
	conf := strings.NewReplacer("{{dir}}", dir, "{{port}}", strconv.Itoa(port)).Replace(eximConf)
	confPath := filepath.Join(dir, "exim.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-C", confPath, "-bdf", "-odi")
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
	s := &eximServer{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), maildir: filepath.Join(dir, "Maildir"), mainlog: filepath.Join(dir, "log", "mainlog")}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
			return s
		}
		select {
		case err := <-exited:
			t.Fatalf("exim4 exited before listening: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("exim4 not listening on %s after 10s: %v\n%s", s.addr, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// messages returns the delivered messages, parsed.
func (s *eximServer) messages(t *testing.T) []*mail.Message {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(s.maildir, "new", "*"))
	var msgs []*mail.Message
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(strings.NewReader(string(b)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// received counts the messages exim accepted ("<=" lines in its log).
func (s *eximServer) received(t *testing.T) int {
	b, _ := os.ReadFile(s.mainlog)
	return strings.Count(string(b), " <= ")
}

func TestSMTPAlertDeliveredThroughRealMTA(t *testing.T) {
	mta := startExim(t)
	log, _ := newLogRecorder(t)
	n, err := New(Config{
		Instances: map[string]Scripts{"VI_1": {SMTPAlert: true}},
		Mail: MailConfig{
			Server:   mta.addr,
			From:     "keepalived@lb1.vigil.test",
			To:       []string{"ops@vigil.test"},
			RouterID: "lb1",
			HeloName: "lb1.vigil.test",
		},
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	startNotifier(t, n)
	before := time.Now().Add(-time.Minute)
	// MASTER twice: keepalived mails a state once (last_email_state).
	n.Enqueue(Event{Name: "VI_1", State: StateMaster, Priority: 100})
	n.Enqueue(Event{Name: "VI_1", State: StateMaster, Priority: 100})
	n.Enqueue(Event{Name: "VI_1", State: StateBackup, Priority: 100})
	waitFor(t, 20*time.Second, func() string { return fmt.Sprintf("%d delivered", len(mta.messages(t))) }, func() bool { return len(mta.messages(t)) >= 2 })
	// Mails are sent one after another, so once BACKUP's is delivered
	// every earlier one has been accepted.
	if got := mta.received(t); got != 2 {
		t.Errorf("exim accepted %d messages, want 2 (MASTER once, BACKUP)", got)
	}
	subjects := map[string]string{}
	for _, m := range mta.messages(t) {
		body, err := io.ReadAll(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		subjects[m.Header.Get("Subject")] = string(body)
		for h, want := range map[string]string{
			"From":     "keepalived@lb1.vigil.test",
			"To":       "ops@vigil.test",
			"X-Mailer": "Keepalived",
		} {
			if got := m.Header.Get(h); got != want {
				t.Errorf("%s: %q, want %q", h, got, want)
			}
		}
		if d, err := m.Header.Date(); err != nil || d.Before(before) || d.After(time.Now().Add(time.Minute)) {
			t.Errorf("Date header %q: %v, %v", m.Header.Get("Date"), d, err)
		}
		if got := m.Header.Get("Received"); !strings.Contains(got, "helo=lb1.vigil.test") {
			t.Errorf("Received header %q does not show HELO lb1.vigil.test", got)
		}
	}
	want := map[string]string{
		"[lb1] VRRP Instance VI_1 - Entering MASTER state": "=> VRRP Instance is now owning VRRP VIPs <=\n\n",
		"[lb1] VRRP Instance VI_1 - Entering BACKUP state": "=> VRRP Instance is no longer owning VRRP VIPs <=\n\n",
	}
	if diff := cmp.Diff(want, subjects); diff != "" {
		t.Errorf("delivered subject → body (-want +got):\n%s", diff)
	}
}

func TestSendMailReportsRejectedRecipient(t *testing.T) {
	mta := startExim(t)
	cfg := MailConfig{Server: mta.addr, From: "k@vigil.test", To: []string{"reject@vigil.test"}, ConnectTimeout: 10 * time.Second}
	err := SendMail(context.Background(), cfg, Mail{Subject: "s", Body: "b"}, time.Now())
	var se *SMTPError
	if !errors.As(err, &se) || se.Cmd != "RCPT" || se.Code != 550 {
		t.Fatalf("SendMail to a rejected recipient = %v, want RCPT refused with 550", err)
	}
	if !strings.Contains(err.Error(), "Error processing RCPT cmd on SMTP server") {
		t.Errorf("error %q lacks keepalived's wording", err)
	}
}
