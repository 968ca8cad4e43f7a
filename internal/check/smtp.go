package check

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultHELOName is keepalived's helo_name default.
const DefaultHELOName = "smtpchecker.keepalived.org"

// SMTP is SMTP_CHECK: connect, expect a 220 greeting, send "HELO name",
// expect 250, send QUIT and read the reply line. (The deprecated host
// sub-blocks of SMTP_CHECK are, as keepalived itself advises, just more
// checkers: the daemon makes one SMTP per host block.)
type SMTP struct {
	Conn Conn
	// HELOName is helo_name; empty means DefaultHELOName.
	HELOName string
}

// NewSMTP returns an SMTP_CHECK.
func NewSMTP(conn Conn, helo string) *SMTP { return &SMTP{Conn: conn, HELOName: helo} }

// Check runs one SMTP dialogue.
func (s *SMTP) Check(ctx context.Context) Result {
	start := time.Now()
	helo := s.HELOName
	if helo == "" {
		helo = DefaultHELOName
	}
	c, err := s.Conn.dial(ctx, "tcp")
	if err != nil {
		return fail(start, "SMTP_CHECK Error connecting to server %s: %s", s.Conn.Addr, timeoutOr(ctx, err, "connect"))
	}
	defer c.Close()
	stop := watch(ctx, c)
	defer stop()
	r := bufio.NewReaderSize(c, 512)

	code, err := smtpReply(r)
	if err != nil {
		return fail(start, "SMTP_CHECK Read failure from server %s: %s", s.Conn.Addr, timeoutOr(ctx, err, "read"))
	}
	if code != 220 {
		return fail(start, "SMTP_CHECK Bad greeting banner from server %s: code %d", s.Conn.Addr, code)
	}
	if _, err := fmt.Fprintf(c, "HELO %s\r\n", helo); err != nil {
		return fail(start, "SMTP_CHECK Write failure to server %s: %s", s.Conn.Addr, timeoutOr(ctx, err, "write"))
	}
	code, err = smtpReply(r)
	if err != nil {
		return fail(start, "SMTP_CHECK Read failure from server %s: %s", s.Conn.Addr, timeoutOr(ctx, err, "read"))
	}
	if code != 250 {
		return fail(start, "SMTP_CHECK Bad HELO response from server %s: code %d", s.Conn.Addr, code)
	}
	if _, err := c.Write([]byte("QUIT\r\n")); err != nil {
		return fail(start, "SMTP_CHECK Write failure to server %s: %s", s.Conn.Addr, timeoutOr(ctx, err, "write"))
	}
	// keepalived waits for one line after QUIT but does not check its code.
	if _, err := r.ReadString('\n'); err != nil {
		return fail(start, "SMTP_CHECK Read failure from server %s: %s", s.Conn.Addr, timeoutOr(ctx, err, "read"))
	}
	return pass(start, "Remote SMTP server "+s.Conn.Addr.String()+" succeed on service")
}

// smtpReply reads one reply and returns its code. A line must start with
// three digits followed by a space or the end of line; a multi-line reply
// ("250-…" lines, RFC 5321 §4.2.1) is read to its last line. (keepalived
// 2.2.7 reads only the first line, so it fails servers whose greeting spans
// several lines; accepting them is a deliberate difference.) A malformed line
// gives code -1, keepalived's "bad" status.
func smtpReply(r *bufio.Reader) (int, error) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return 0, err
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 3 {
			return -1, nil
		}
		code, cerr := strconv.Atoi(line[:3])
		if cerr != nil || line[0] == '+' || line[0] == '-' {
			return -1, nil
		}
		if len(line) == 3 || line[3] == ' ' {
			return code, nil
		}
		if line[3] != '-' {
			return -1, nil
		}
	}
}
