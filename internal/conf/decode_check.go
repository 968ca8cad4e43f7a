package conf

import (
	"net/netip"
	"strconv"
	"strings"
)

// checkerKeywords returns the table of one checker type: the keywords
// common to all checkers plus the type's own.
func checkerKeywords(typ CheckerType) table {
	c := func(d *decoder) *Checker { return d.chk }
	t := table{
		"connect_ip": func(d *decoder, n *Node) {
			if a, ok := d.checkerAddr(n); ok {
				d.chk.ConnectIP = a
			}
		},
		"bindto": func(d *decoder, n *Node) {
			if a, ok := d.checkerAddr(n); ok {
				d.chk.BindTo = a
			}
		},
		"connect_port": checkerPort(func(c *Checker) *uint16 { return &c.ConnectPort }),
		"bind_port":    checkerPort(func(c *Checker) *uint16 { return &c.BindPort }),
		"bind_if":      str(func(d *decoder) *string { return &c(d).BindIf }),
		"fwmark": func(d *decoder, n *Node) {
			if v, ok := d.intArg(n, 0, 0, 4294967295); ok {
				d.chk.Fwmark = uint32(v)
			}
		},
		"alpha":            optFlag(func(d *decoder) **bool { return &c(d).Alpha }),
		"log_all_failures": optFlag(func(d *decoder) **bool { return &c(d).LogAllFailures }),
	}
	checkerDefaultKeywords(t)
	switch typ {
	case HTTPGet, SSLGet:
		t["url"] = (*decoder).url
		t["http_protocol"] = func(d *decoder, n *Node) {
			if !d.need(n, 0) {
				return
			}
			switch arg(n, 0) {
			case "1.0", "1.0C", "1.1":
				d.chk.HTTPProtocol = arg(n, 0)
			default:
				d.addNode(n, GeneralError, "Invalid http_protocol version %s", arg(n, 0))
			}
		}
		t["fast_recovery"] = setFlag(func(d *decoder) *bool { return &c(d).FastRecovery })
		t["virtualhost"] = str(func(d *decoder) *string { return &c(d).Virtualhost })
		// keepalived.conf(5): nb_get_retry is the old name of retry.
		t["nb_get_retry"] = deprecated("nb_get_retry is deprecated - please use 'retry'", t["retry"])
		if typ == SSLGet {
			t["enable_sni"] = setFlag(func(d *decoder) *bool { return &c(d).EnableSNI })
		}
	case SMTPCheck:
		t["helo_name"] = str(func(d *decoder) *string { return &c(d).HeloName })
		t["host"] = unsupported
	case DNSCheck:
		t["type"] = func(d *decoder, n *Node) {
			if !d.need(n, 0) {
				return
			}
			switch q := strings.ToUpper(arg(n, 0)); q {
			case "A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA":
				d.chk.DNSType = q
			default:
				d.addNode(n, GeneralError, "Unknown DNS check type %s - ignoring", arg(n, 0))
			}
		}
		t["name"] = str(func(d *decoder) *string { return &c(d).DNSName })
	case MiscCheck:
		t["misc_path"] = func(d *decoder, n *Node) { d.chk.MiscPath = d.commandLine(n) }
		t["misc_timeout"] = func(d *decoder, n *Node) {
			if v, ok := d.secondsArg(n, 0, 0, 4294); ok {
				d.chk.MiscTimeout = v
			} else if argCount(n) > 0 {
				d.addNode(n, GeneralError, "Invalid misc_timeout value '%s'", arg(n, 0))
			}
		}
		t["misc_dynamic"] = setFlag(func(d *decoder) *bool { return &c(d).MiscDynamic })
		t["user"] = func(d *decoder, n *Node) {
			if d.need(n, 0) && d.chk.MiscPath != nil {
				d.chk.MiscPath.User, d.chk.MiscPath.Group = arg(n, 0), arg(n, 1)
			}
		}
	}
	return t
}

// checkerPort reads connect_port/bind_port: 1-65535.
func checkerPort(get func(c *Checker) *uint16) handler {
	return func(d *decoder, n *Node) {
		if v, ok := d.intArg(n, 0, 1, 65535); ok {
			*get(d.chk) = uint16(v)
		} else if argCount(n) > 0 {
			d.addNode(n, GeneralError, "Invalid checker %s '%s'", n.Key.Text, arg(n, 0))
		}
	}
}

// checkerAddr reads an address argument of a checker keyword.
func (d *decoder) checkerAddr(n *Node) (netip.Addr, bool) {
	if !d.need(n, 0) {
		return netip.Addr{}, false
	}
	a, ok := parseAddr(arg(n, 0))
	if !ok {
		d.addNode(n, GeneralError, "Invalid %s address %s - ignoring", n.Key.Text, arg(n, 0))
	}
	return a, ok
}

// checkerBlock returns the handler of a checker block of type typ.
func checkerBlock(typ CheckerType) handler {
	return func(d *decoder, n *Node) {
		if !d.needBlock(n) {
			return
		}
		chk := &Checker{Type: typ, Pos: n.Pos()}
		if typ == DNSCheck {
			chk.DNSType, chk.DNSName = "SOA", "."
		}
		d.rs.Checkers = append(d.rs.Checkers, chk)
		savedCD := d.cd
		d.chk, d.cd = chk, &chk.CheckerDefaults
		d.block(n.Block, d.table("checker:"+string(typ)), &chk.Unsupported)
		d.chk, d.cd = nil, savedCD
		if (typ == HTTPGet || typ == SSLGet) && len(chk.URLs) == 0 {
			d.addNode(n, GeneralError, "HTTP/SSL_GET checker has no urls specified - ignoring")
			d.rs.Checkers = d.rs.Checkers[:len(d.rs.Checkers)-1]
		}
		if typ == MiscCheck && chk.MiscPath == nil {
			d.addNode(n, GeneralError, "No script path has been specified for MISC_CHECKER - skipping")
			d.rs.Checkers = d.rs.Checkers[:len(d.rs.Checkers)-1]
		}
	}
}

// ---- SSL ----

// ssl reads the top-level SSL block used by SSL_GET.
func (d *decoder) ssl(n *Node) {
	if !d.needBlock(n) {
		return
	}
	s := &SSLConfig{Pos: n.Pos()}
	d.cfg.SSL = s
	d.block(n.Block, table{
		"password":    str(func(*decoder) *string { return &s.Password }),
		"ca":          str(func(*decoder) *string { return &s.CA }),
		"certificate": str(func(*decoder) *string { return &s.Certificate }),
		"key":         str(func(*decoder) *string { return &s.Key }),
	}, &d.cfg.Unsupported)
}

// ---- url ----

func urlKeywords() table {
	u := func(d *decoder) *URL { return d.u }
	return table{
		"path": str(func(d *decoder) *string { return &u(d).Path }),
		"digest": func(d *decoder, n *Node) {
			if !d.need(n, 0) {
				return
			}
			// An MD5 digest in hexadecimal.
			if l := len(arg(n, 0)); l != 32 {
				d.addNode(n, GeneralError, "digest '%s' character length should be 32 rather than %d", arg(n, 0), l)
				return
			}
			d.u.Digest = arg(n, 0)
		},
		"virtualhost": str(func(d *decoder) *string { return &u(d).Virtualhost }),
		"status_code": (*decoder).statusCode,
		"regex": func(d *decoder, n *Node) {
			if d.need(n, 0) {
				d.u.Regex = strings.Join(argsText(n), " ")
			}
		},
		"regex_no_match": setFlag(func(d *decoder) *bool { return &u(d).RegexNoMatch }),
		"regex_options":  func(d *decoder, n *Node) { d.u.RegexOptions = append(d.u.RegexOptions, argsText(n)...) },
		"regex_min_offset": func(d *decoder, n *Node) {
			if v, ok := d.intArg(n, 0, 0, 2147483647); ok {
				d.u.RegexMinOffset = int(v)
			}
		},
		"regex_max_offset": func(d *decoder, n *Node) {
			if v, ok := d.intArg(n, 0, 0, 2147483647); ok {
				d.u.RegexMaxOffset = int(v)
			}
		},
		"regex_stack": unsupported,
	}
}

func (d *decoder) url(n *Node) {
	if !d.needBlock(n) {
		return
	}
	d.u = &URL{Pos: n.Pos()}
	d.block(n.Block, d.table("url"), &d.u.Unsupported)
	if d.u.Path == "" {
		d.addNode(n, GeneralError, "HTTP/SSL_GET checker url has no path - ignoring")
	} else {
		d.chk.URLs = append(d.chk.URLs, *d.u)
	}
	d.u = nil
}

// statusCode reads "status_code <INTEGER|RANGE> ...": codes 100-599.
func (d *decoder) statusCode(n *Node) {
	if !d.need(n, 0) {
		return
	}
	for _, w := range argsText(n) {
		from, to, isRange := strings.Cut(w, "-")
		if !isRange {
			to = from
		}
		f, err1 := strconv.Atoi(from)
		t, err2 := strconv.Atoi(to)
		if err1 != nil || err2 != nil || f < 100 || t > 599 || f > t {
			d.addNode(n, GeneralError, "Invalid HTTP_GET status code '%s'", w)
			continue
		}
		d.u.StatusCode = append(d.u.StatusCode, StatusRange{From: f, To: t})
	}
}
