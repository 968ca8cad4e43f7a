package check

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// DNS_CHECK defaults from keepalived.conf(5).
const (
	DefaultDNSName = "."
	DefaultDNSType = dnsmessage.TypeSOA
)

// ParseDNSType maps DNS_CHECK's type argument (A, NS, CNAME, SOA, MX, TXT,
// AAAA; any case, as keepalived compares it) to a query type.
func ParseDNSType(s string) (dnsmessage.Type, error) {
	switch strings.ToUpper(s) {
	case "A":
		return dnsmessage.TypeA, nil
	case "NS":
		return dnsmessage.TypeNS, nil
	case "CNAME":
		return dnsmessage.TypeCNAME, nil
	case "SOA":
		return dnsmessage.TypeSOA, nil
	case "MX":
		return dnsmessage.TypeMX, nil
	case "TXT":
		return dnsmessage.TypeTXT, nil
	case "AAAA":
		return dnsmessage.TypeAAAA, nil
	}
	return 0, fmt.Errorf("DNS_CHECK type %q: want A, NS, CNAME, SOA, MX, TXT or AAAA", s)
}

// DNS is DNS_CHECK: one recursive query over UDP; the server is up when a
// response with the query's ID arrives with RCODE 0 (NOERROR). As in
// keepalived, the answer section is not inspected, and stray datagrams
// (wrong ID, not a response, too short) are ignored while waiting.
type DNS struct {
	Conn Conn
	// Type is the query type; zero means DefaultDNSType.
	Type dnsmessage.Type
	// Name is the query name; empty means DefaultDNSName.
	Name string
}

// NewDNS returns a DNS_CHECK.
func NewDNS(conn Conn, typ dnsmessage.Type, name string) *DNS {
	return &DNS{Conn: conn, Type: typ, Name: name}
}

func (d *DNS) query(id uint16) ([]byte, error) {
	name := d.Name
	if name == "" {
		name = DefaultDNSName
	}
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	n, err := dnsmessage.NewName(name)
	if err != nil {
		return nil, fmt.Errorf("DNS_CHECK name %q: %w", d.Name, err)
	}
	typ := d.Type
	if typ == 0 {
		typ = DefaultDNSType
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(dnsmessage.Question{Name: n, Type: typ, Class: dnsmessage.ClassINET}); err != nil {
		return nil, fmt.Errorf("DNS_CHECK name %q: %w", d.Name, err)
	}
	return b.Finish()
}

// Check sends one query and waits for its answer.
func (d *DNS) Check(ctx context.Context) Result {
	start := time.Now()
	id := uint16(rand.Uint32())
	q, err := d.query(id)
	if err != nil {
		return fail(start, "%v", err)
	}
	c, err := d.Conn.dial(ctx, "udp")
	if err != nil {
		return fail(start, "DNS_CHECK %s: %s", d.Conn.Addr, timeoutOr(ctx, err, "connect"))
	}
	defer c.Close()
	stop := watch(ctx, c)
	defer stop()
	if _, err := c.Write(q); err != nil {
		return fail(start, "DNS_CHECK %s: %s", d.Conn.Addr, timeoutOr(ctx, err, "send"))
	}
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return fail(start, "DNS_CHECK %s: %s", d.Conn.Addr, timeoutOr(ctx, err, "read"))
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil || h.ID != id || !h.Response {
			continue
		}
		if h.RCode != dnsmessage.RCodeSuccess {
			return fail(start, "DNS_CHECK %s: read error occurred. (rcode = %d)", d.Conn.Addr, h.RCode)
		}
		return pass(start, "DNS_CHECK "+d.Conn.Addr.String()+" succeed")
	}
}
