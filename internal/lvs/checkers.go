package lvs

import (
	"fmt"
	"net/netip"
	"regexp"
	"time"

	"github.com/vigil-ha/vigil/internal/check"
	"github.com/vigil-ha/vigil/internal/conf"
	"github.com/vigil-ha/vigil/internal/notify"
)

// policyOf maps a checker keyword to the retry rules it follows.
func policyOf(t conf.CheckerType) check.Policy {
	switch t {
	case conf.HTTPGet, conf.SSLGet:
		return check.PolicyHTTP
	case conf.SMTPCheck:
		return check.PolicySMTP
	case conf.DNSCheck:
		return check.PolicyDNS
	case conf.MiscCheck:
		return check.PolicyMisc
	}
	return check.PolicyTCP
}

// Timing resolves a checker's scheduling keywords as keepalived does
// (check_data.c validate_check_config): each comes from the checker, else
// the real server, else the virtual server, else the checker type's
// default; warmup defaults to the checker's delay_loop.
func (t *Target) Timing() check.Timing {
	c, rs, vs := &t.cfg.CheckerDefaults, &t.Real.cfg.CheckerDefaults, &t.Real.Pool.cfg.CheckerDefaults
	delay := firstDur(c.DelayLoop, rs.DelayLoop, vs.DelayLoop)
	pol := policyOf(t.cfg.Type)
	tm := check.DefaultTiming(pol, delay)
	for _, r := range []*int{c.Retry, rs.Retry, vs.Retry} {
		if r != nil {
			tm.Retry = *r
			break
		}
	}
	if d := firstDur(c.DelayBeforeRetry, rs.DelayBeforeRetry, vs.DelayBeforeRetry); d > 0 {
		tm.DelayBeforeRetry = d
	}
	for _, w := range []*time.Duration{c.Warmup, rs.Warmup, vs.Warmup} {
		if w != nil {
			tm.Warmup = *w
			break
		}
	}
	if pol == check.PolicyMisc {
		if t.cfg.MiscTimeout > 0 {
			tm.Timeout = t.cfg.MiscTimeout
		}
	} else if d := firstDur(c.ConnectTimeout, rs.ConnectTimeout, vs.ConnectTimeout); d > 0 {
		tm.Timeout = d
	}
	tm.Alpha = t.Alpha
	tm.FastRecovery = t.cfg.FastRecovery
	return tm
}

func firstDur(ds ...time.Duration) time.Duration {
	for _, d := range ds {
		if d > 0 {
			return d
		}
	}
	return 0
}

// Conn resolves connect_ip/connect_port (default: the real server's
// address and port), bindto, bind_port, bind_if and fwmark.
func (t *Target) Conn() check.Conn {
	c := t.cfg
	addr := c.ConnectIP
	if !addr.IsValid() {
		addr = t.Real.Addr
	}
	port := c.ConnectPort
	if port == 0 {
		port = t.Real.Port
	}
	return check.Conn{Addr: netip.AddrPortFrom(addr, port), BindTo: c.BindTo, BindPort: c.BindPort, BindIf: c.BindIf, FWMark: c.Fwmark}
}

// virtualhost returns the first non-empty of the checker's, the real
// server's and the virtual server's virtualhost.
func (t *Target) virtualhost() string {
	for _, v := range []string{t.cfg.Virtualhost, t.Real.cfg.Virtualhost, t.Real.Pool.cfg.Virtualhost} {
		if v != "" {
			return v
		}
	}
	return ""
}

// Checker builds the check.Checker of the target. sslCfg is the
// configuration's SSL block (nil: no verification, as keepalived).
func (t *Target) Checker() (check.Checker, error) {
	c := t.cfg
	conn := t.Conn()
	switch c.Type {
	case conf.TCPCheck:
		return check.NewTCP(conn), nil
	case conf.HTTPGet, conf.SSLGet:
		h := &check.HTTPGet{Conn: conn, SSL: c.Type == conf.SSLGet, EnableSNI: c.EnableSNI, VirtualHost: t.virtualhost()}
		// keepalived takes the SNI name from the checker's, else the
		// virtual server's virtualhost (not the real server's).
		h.SNIHost = c.Virtualhost
		if h.SNIHost == "" {
			h.SNIHost = t.Real.Pool.cfg.Virtualhost
		}
		if c.HTTPProtocol != "" {
			p, err := check.ParseHTTPProtocol(c.HTTPProtocol)
			if err != nil {
				return nil, t.errorf("%w", err)
			}
			h.Protocol = p
		}
		for _, u := range c.URLs {
			cu := check.URL{Path: u.Path, VirtualHost: u.Virtualhost, RegexNoMatch: u.RegexNoMatch}
			if u.Digest != "" {
				d, err := check.ParseDigest(u.Digest)
				if err != nil {
					return nil, t.errorf("url %s: %w", u.Path, err)
				}
				cu.Digest = d
			}
			for _, sr := range u.StatusCode {
				cu.StatusCodes = append(cu.StatusCodes, check.StatusRange{Min: sr.From, Max: sr.To})
			}
			if u.Regex != "" {
				re, err := regexp.Compile(u.Regex)
				if err != nil {
					return nil, t.errorf("url %s: regex %q (vigil uses Go's RE2 syntax): %w", u.Path, u.Regex, err)
				}
				cu.Regex = re
			}
			h.URLs = append(h.URLs, cu)
		}
		return h, nil
	case conf.SMTPCheck:
		return check.NewSMTP(conn, c.HeloName), nil
	case conf.DNSCheck:
		typ, err := check.ParseDNSType(c.DNSType)
		if err != nil {
			return nil, t.errorf("%w", err)
		}
		return check.NewDNS(conn, typ, c.DNSName), nil
	case conf.MiscCheck:
		if c.MiscPath == nil {
			return nil, t.errorf("MISC_CHECK has no misc_path")
		}
		argv, err := notify.ParseCommand(c.MiscPath.Cmd)
		if err != nil || len(argv) == 0 {
			return nil, t.errorf("misc_path %q: %v", c.MiscPath.Cmd, err)
		}
		m := &check.Misc{Argv: argv, Dynamic: c.MiscDynamic}
		if c.MiscPath.User != "" {
			cred, err := notify.LookupCredential(c.MiscPath.User, c.MiscPath.Group)
			if err != nil {
				return nil, t.errorf("user: %w", err)
			}
			m.User = &check.Cred{UID: cred.UID, GID: cred.GID}
		}
		return m, nil
	}
	return nil, t.errorf("checker %s is not supported", c.Type)
}

func (t *Target) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: %s of real server %s in VS %s: "+format,
		append([]any{t.cfg.Pos, t.cfg.Type, t.Real.Name, t.Real.Pool.Name}, args...)...)
}

// CheckTarget returns the scheduler target of t with checker c.
func (t *Target) CheckTarget(c check.Checker) check.Target {
	return check.Target{Name: t.Real.Name, Checker: c, Policy: policyOf(t.cfg.Type), Timing: t.Timing()}
}

// checkerLog returns keepalived's log line for a checker report: the
// TCP_CHECK and HTTP_GET/SSL_GET lines verbatim (check_tcp.c tcp_epilog,
// check_http.c epilog), MISC_CHECK's "Misc check for [RS VS VS] by [prog]"
// lines, and for SMTP_CHECK and DNS_CHECK the same forms. The probe's
// reason goes into the log record's attributes.
func checkerLog(t *Target, up, hadRun bool, retry int) string {
	name := t.Real.Name
	failed := func(kw string) string {
		if retry > 0 && hadRun {
			return fmt.Sprintf("%s on service %s failed after %d retries.", kw, name, retry)
		}
		return kw + " on service " + name + " failed."
	}
	switch t.cfg.Type {
	case conf.TCPCheck:
		if up {
			return "TCP connection to " + name + " success."
		}
		return failed("TCP_CHECK")
	case conf.HTTPGet, conf.SSLGet:
		if up {
			return "Remote Web server " + name + " succeed on service."
		}
		return failed("HTTP_CHECK")
	case conf.SMTPCheck:
		if up {
			return "Remote SMTP server " + name + " succeed on service."
		}
		return failed("SMTP_CHECK")
	case conf.MiscCheck:
		prog := ""
		if t.cfg.MiscPath != nil {
			if argv, err := notify.ParseCommand(t.cfg.MiscPath.Cmd); err == nil && len(argv) > 0 {
				prog = argv[0]
			}
		}
		verb := "failed"
		if up {
			verb = "succeeded"
		}
		return fmt.Sprintf("Misc check for [%s VS %s] by [%s] %s.", name, t.Real.Pool.Name, prog, verb)
	}
	if up {
		return fmt.Sprintf("%s (%s) succeeded", t.cfg.Type, name)
	}
	return failed(string(t.cfg.Type))
}
