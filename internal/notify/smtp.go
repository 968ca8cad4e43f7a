package notify

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultSMTPPort is smtp_server's port when none is given.
const DefaultSMTPPort = 25

// DefaultSMTPConnectTimeout is smtp_connect_timeout's default (30 s).
const DefaultSMTPConnectTimeout = 30 * time.Second

// MailConfig is the global_defs mail setup (keepalived.conf(5):
// notification_email, notification_email_from, smtp_server,
// smtp_helo_name, smtp_connect_timeout, router_id).
type MailConfig struct {
	// Server is the SMTP server as host:port (smtp_server; port 25 when
	// the config gives none). Empty disables mail.
	Server string
	// HeloName is smtp_helo_name; default: the host name.
	HeloName string
	// From is notification_email_from; default: <user>@<host name>.
	From string
	// To is the notification_email list. Empty disables mail.
	To []string
	// RouterID is router_id, put in brackets at the start of every
	// subject; default: the host name.
	RouterID string
	// ConnectTimeout is smtp_connect_timeout, used for the connection and
	// for each reply; default 30 s.
	ConnectTimeout time.Duration
	// QueueLen bounds the mails waiting to be sent; default 16.
	QueueLen int
}

// Mail is one alert.
type Mail struct {
	Subject string
	Body    string
}

// withDefaults fills the defaults keepalived computes at startup
// (core/global_data.c): helo name and router_id are the host name, the
// sender is the daemon's user at the host name.
func (c MailConfig) withDefaults() MailConfig {
	host, _ := os.Hostname()
	if c.HeloName == "" {
		c.HeloName = host
	}
	if c.RouterID == "" {
		c.RouterID = host
	}
	if c.From == "" {
		name := "root"
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
		c.From = name + "@" + host
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultSMTPConnectTimeout
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 16
	}
	return c
}

// enabled reports whether alerts can be sent at all: keepalived sends
// nothing without both a server and a recipient.
func (c MailConfig) enabled() bool { return c.Server != "" && len(c.To) > 0 }

// InstanceMail is the alert keepalived 2.2.7 sends when a vrrp_instance
// with smtp_alert enters st (vrrp/vrrp_notify.c vrrp_smtp_notifier,
// core/smtp.c smtp_alert). ok is false for states that send no mail.
func InstanceMail(routerID, instance string, st State) (m Mail, ok bool) {
	var what, body string
	switch st {
	case StateMaster:
		what, body = "Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <="
	case StateBackup:
		what, body = "Entering BACKUP state", "=> VRRP Instance is no longer owning VRRP VIPs <="
	case StateFault:
		what, body = "Entering FAULT state", "=> VRRP Instance is no longer owning VRRP VIPs <="
	case StateStop:
		what, body = "Stopping", "=> VRRP Instance stopping <="
	case StateDeleted:
		what, body = "Deleted", "=> VRRP Deleted at reload <="
	default:
		return Mail{}, false
	}
	return Mail{Subject: fmt.Sprintf("[%s] VRRP Instance %s - %s", routerID, instance, what), Body: body}, true
}

// GroupMail is the alert for a vrrp_sync_group with smtp_alert entering
// st (vrrp/vrrp_notify.c vrrp_sync_smtp_notifier).
func GroupMail(routerID, group string, st State) (m Mail, ok bool) {
	var what, body string
	switch st {
	case StateMaster:
		what, body = "Entering MASTER state", "=> All VRRP group instances are now in MASTER state <="
	case StateBackup:
		what, body = "Entering BACKUP state", "=> All VRRP group instances are now in BACKUP state <="
	case StateFault:
		what, body = "Entering FAULT state", "=> All VRRP group instances are now in FAULT state <="
	case StateStop:
		what, body = "Stopping", "=> All VRRP group instances are now stopping <="
	default:
		return Mail{}, false
	}
	return Mail{Subject: fmt.Sprintf("[%s] VRRP Group %s - %s", routerID, group, what), Body: body}, true
}

// formatMessage is the DATA keepalived sends (include/smtp.h
// SMTP_HEADERS_CMD, SMTP_BODY_CMD), without the final ".": Date in the
// local zone, From, Subject, "X-Mailer: Keepalived" (kept so operators'
// mail filters keep matching), To, a blank line, the body and an empty
// line; the To addresses are joined with ", ". testdata holds a message
// captured from keepalived 2.2.7 that this must reproduce.
func formatMessage(c MailConfig, m Mail, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	fmt.Fprintf(&b, "From: %s\r\n", c.From)
	fmt.Fprintf(&b, "Subject: %s\r\n", oneLine(m.Subject))
	b.WriteString("X-Mailer: Keepalived\r\n")
	fmt.Fprintf(&b, "To: %s\r\n\r\n", strings.Join(c.To, ", "))
	for _, line := range strings.Split(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n") {
		if strings.HasPrefix(line, ".") {
			line = "." + line // RFC 5321 §4.5.2 transparency
		}
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

// SMTPError is a failed step of a mail delivery.
type SMTPError struct {
	Server string // host:port
	Cmd    string // "connect", "(E)SMTP", "HELO", "MAIL", "RCPT", "DATA", "BODY", "QUIT"
	Code   int    // the server's reply code, 0 if none
	Err    error  // the I/O error, if any
}

func (e *SMTPError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("SMTP %s on server %s: %v", e.Cmd, e.Server, e.Err)
	}
	return fmt.Sprintf("Error processing %s cmd on SMTP server %s. SMTP status code = %d", e.Cmd, e.Server, e.Code)
}

func (e *SMTPError) Unwrap() error { return e.Err }

// SendMail delivers m through c.Server with keepalived's dialogue: wait
// for 220, HELO (not EHLO), MAIL FROM, one RCPT TO per address, DATA,
// the message, QUIT. Each connect and reply waits at most
// c.ConnectTimeout. now dates the message.
func SendMail(ctx context.Context, c MailConfig, m Mail, now time.Time) error {
	c = c.withDefaults()
	if !c.enabled() {
		return errors.New("mail not configured: need smtp_server and notification_email")
	}
	d := net.Dialer{Timeout: c.ConnectTimeout}
	conn, err := d.DialContext(ctx, "tcp", c.Server)
	if err != nil {
		return &SMTPError{Server: c.Server, Cmd: "connect", Err: err}
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	s := &smtpConn{conn: conn, r: bufio.NewReader(conn), c: c}
	if err := s.expect("(E)SMTP", 220); err != nil {
		return err
	}
	steps := []struct {
		cmd, line string
		code      int
	}{
		{"HELO", "HELO " + c.HeloName, 250},
		{"MAIL", "MAIL FROM:<" + c.From + ">", 250},
	}
	for _, to := range c.To {
		steps = append(steps, struct {
			cmd, line string
			code      int
		}{"RCPT", "RCPT TO:<" + to + ">", 250})
	}
	steps = append(steps, []struct {
		cmd, line string
		code      int
	}{
		{"DATA", "DATA", 354},
		{"BODY", formatMessage(c, m, now) + ".", 250},
	}...)
	for _, st := range steps {
		if err := s.send(st.line); err != nil {
			return &SMTPError{Server: c.Server, Cmd: st.cmd, Err: err}
		}
		if err := s.expect(st.cmd, st.code); err != nil {
			// keepalived answers any failure with QUIT.
			_ = s.send("QUIT")
			return err
		}
	}
	if err := s.send("QUIT"); err != nil {
		return &SMTPError{Server: c.Server, Cmd: "QUIT", Err: err}
	}
	// The mail is accepted; a missing 221 is not worth an error.
	_ = s.expect("QUIT", 221)
	return nil
}

type smtpConn struct {
	conn net.Conn
	r    *bufio.Reader
	c    MailConfig
}

func (s *smtpConn) send(line string) error {
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.c.ConnectTimeout))
	_, err := s.conn.Write([]byte(line + "\r\n"))
	return err
}

// expect reads one reply, skipping continuation lines ("250-…"), and
// checks its code.
func (s *smtpConn) expect(cmd string, want int) error {
	_ = s.conn.SetReadDeadline(time.Now().Add(s.c.ConnectTimeout))
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return &SMTPError{Server: s.c.Server, Cmd: cmd, Err: err}
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 3 {
			return &SMTPError{Server: s.c.Server, Cmd: cmd, Err: fmt.Errorf("malformed reply %q", line)}
		}
		if len(line) > 3 && line[3] == '-' {
			continue
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil {
			return &SMTPError{Server: s.c.Server, Cmd: cmd, Err: fmt.Errorf("malformed reply %q", line)}
		}
		if code != want {
			return &SMTPError{Server: s.c.Server, Cmd: cmd, Code: code}
		}
		return nil
	}
}

// Mailer sends alerts in the background: Enqueue never blocks, a full
// queue drops the mail with a warning, and failures are logged.
type Mailer struct {
	cfg     MailConfig
	log     *slog.Logger
	queue   chan Mail
	dropped atomic.Uint64
	now     func() time.Time
}

// NewMailer returns a Mailer for cfg (defaults filled in). It starts
// nothing; call Run.
func NewMailer(cfg MailConfig, log *slog.Logger) (*Mailer, error) {
	cfg = cfg.withDefaults()
	if !cfg.enabled() {
		return nil, errors.New("mail not configured: need smtp_server and notification_email")
	}
	if _, _, err := net.SplitHostPort(cfg.Server); err != nil {
		return nil, fmt.Errorf("smtp_server %q: %w", cfg.Server, err)
	}
	return &Mailer{cfg: cfg, log: log, queue: make(chan Mail, cfg.QueueLen), now: time.Now}, nil
}

// RouterID is the router_id used in subjects.
func (m *Mailer) RouterID() string { return m.cfg.RouterID }

// Enqueue queues a mail; it never blocks. It returns false if the queue
// was full and the mail was dropped.
func (m *Mailer) Enqueue(mail Mail) bool {
	select {
	case m.queue <- mail:
		return true
	default:
		m.dropped.Add(1)
		m.log.Warn("SMTP alert queue full, dropping alert", "subject", mail.Subject)
		return false
	}
}

// Dropped counts mails dropped because the queue was full.
func (m *Mailer) Dropped() uint64 { return m.dropped.Load() }

// Run sends queued mails until ctx ends, then tries the mails still
// queued for at most one ConnectTimeout in total, and returns.
func (m *Mailer) Run(ctx context.Context) error {
	for {
		select {
		case mail := <-m.queue:
			m.send(ctx, mail)
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.ConnectTimeout)
			defer cancel()
			for {
				select {
				case mail := <-m.queue:
					m.send(dctx, mail)
				default:
					return nil
				}
			}
		}
	}
}

func (m *Mailer) send(ctx context.Context, mail Mail) {
	if err := SendMail(ctx, m.cfg, mail, m.now()); err != nil {
		m.log.Warn("SMTP alert failed", "subject", mail.Subject, "err", err)
		return
	}
	m.log.Info("SMTP alert successfully sent.", "subject", mail.Subject)
}
