package check

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// HTTPProtocol is the http_protocol keyword of HTTP_GET and SSL_GET.
type HTTPProtocol int

const (
	// HTTP10 sends "GET path HTTP/1.0" with no Connection header
	// (keepalived's default).
	HTTP10 HTTPProtocol = iota
	// HTTP10C is "1.0C": HTTP/1.0 plus "Connection: close".
	HTTP10C
	// HTTP11 sends "GET path HTTP/1.1" with "Connection: close".
	HTTP11
)

// ParseHTTPProtocol maps the http_protocol argument ("1.0", "1.0C", "1.0c",
// "1.1") to an HTTPProtocol.
func ParseHTTPProtocol(s string) (HTTPProtocol, error) {
	switch s {
	case "1.0":
		return HTTP10, nil
	case "1.0C", "1.0c":
		return HTTP10C, nil
	case "1.1":
		return HTTP11, nil
	}
	return 0, fmt.Errorf("http_protocol %q: want 1.0, 1.0C or 1.1", s)
}

// StatusRange is one status_code argument: a code (Min == Max) or a range.
type StatusRange struct{ Min, Max int }

// Status codes keepalived accepts in status_code, and its default.
const (
	StatusCodeMin = 100
	StatusCodeMax = 599
)

// DefaultStatusCodes is used for a url block with no status_code:
// keepalived.conf(5) "Default is 200-299".
var DefaultStatusCodes = []StatusRange{{200, 299}}

// URL is one url block of HTTP_GET/SSL_GET.
type URL struct {
	// Path is the request target (path).
	Path string
	// Digest is the expected MD5 of the body (digest, 32 hex digits); nil
	// means no digest check.
	Digest []byte
	// StatusCodes lists the accepted codes (status_code); empty means
	// DefaultStatusCodes.
	StatusCodes []StatusRange
	// VirtualHost overrides HTTPGet.VirtualHost for this URL (virtualhost).
	VirtualHost string
	// Regex, when set, must match the body (regex); with RegexNoMatch a
	// match fails the check instead (regex_no_match). keepalived uses PCRE2;
	// Go's RE2 syntax covers the common subset.
	Regex        *regexp.Regexp
	RegexNoMatch bool
}

// ParseDigest decodes a digest argument (32 hex digits, either case).
func ParseDigest(s string) ([]byte, error) {
	if len(s) != 2*md5.Size {
		return nil, fmt.Errorf("digest %q: length %d, want %d hex digits", s, len(s), 2*md5.Size)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("digest %q: %w", s, err)
	}
	return b, nil
}

// ParseStatusCodes reads status_code arguments ("200", "200-299"). Like
// keepalived, a bad argument is reported and skipped while the good ones are
// kept; each error names the argument and the allowed range.
func ParseStatusCodes(args []string) ([]StatusRange, []error) {
	var out []StatusRange
	var errs []error
	for _, a := range args {
		lo, hi, isRange := strings.Cut(a, "-")
		if !isRange {
			hi = lo
		}
		min, err1 := strconv.Atoi(lo)
		max, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || min < StatusCodeMin || max > StatusCodeMax || min > max {
			errs = append(errs, fmt.Errorf("invalid HTTP_GET status code '%s': want a code or range within %d-%d", a, StatusCodeMin, StatusCodeMax))
			continue
		}
		out = append(out, StatusRange{min, max})
	}
	return out, errs
}

func (u *URL) statusOK(code int) bool {
	if code < StatusCodeMin || code > StatusCodeMax {
		return false
	}
	ranges := u.StatusCodes
	if len(ranges) == 0 {
		ranges = DefaultStatusCodes
	}
	for _, r := range ranges {
		if code >= r.Min && code <= r.Max {
			return true
		}
	}
	return false
}

// HTTPGet is HTTP_GET, or SSL_GET when SSL is set. Each probe fetches one
// URL; the Scheduler walks the URLs the way keepalived does (one per
// delay_loop, see Tracker). Check fetches them all in a row.
type HTTPGet struct {
	Conn Conn
	// SSL selects SSL_GET.
	SSL bool
	// EnableSNI sends the virtual host as TLS server name (enable_sni).
	EnableSNI bool
	// TLS, when set, is cloned for each handshake (for the global SSL
	// block's ca/certificate/key, or to verify the server). When nil the
	// server certificate is not verified, as keepalived does without a ca.
	TLS *tls.Config
	// Protocol is http_protocol.
	Protocol HTTPProtocol
	// VirtualHost is the Host header when a URL has none: the checker's,
	// else the real server's, else the virtual server's virtualhost. Empty
	// means "ip:port" of the connection.
	VirtualHost string
	// SNIHost, when set, is the TLS server name used when a URL has no
	// virtualhost. keepalived picks it from the checker's, else the virtual
	// server's virtualhost (not the real server's), so the daemon may need to
	// set it apart from VirtualHost. Empty means VirtualHost.
	SNIHost string
	URLs    []URL

	// KeepBody keeps up to 1 MiB of every body in HTTPResponse.Body even
	// without a regex (genhash -v dumps it).
	KeepBody bool
}

// Steps returns how many URLs the checker walks.
func (h *HTTPGet) Steps() int { return len(h.URLs) }

// Check fetches every URL in turn and fails at the first bad one.
func (h *HTTPGet) Check(ctx context.Context) Result {
	start := time.Now()
	if len(h.URLs) == 0 {
		return fail(start, "HTTP_GET has no url")
	}
	var r Result
	for i := range h.URLs {
		r = h.CheckStep(ctx, i)
		if !r.OK {
			break
		}
	}
	r.Latency = time.Since(start)
	return r
}

// CheckStep fetches URL i and judges it as keepalived does: no header end
// means no data; then status_code; then digest; then regex.
func (h *HTTPGet) CheckStep(ctx context.Context, i int) Result {
	start := time.Now()
	if i < 0 || i >= len(h.URLs) {
		return fail(start, "HTTP_GET has no url %d", i)
	}
	u := &h.URLs[i]
	resp, err := h.Fetch(ctx, i)
	if err != nil {
		return fail(start, "%v url(%s)", err, u.Path)
	}
	if !resp.HeaderComplete {
		return fail(start, "Read, no data received from %s url(%s)", h.Conn.Addr, u.Path)
	}
	if !u.statusOK(resp.StatusCode) {
		return fail(start, "HTTP status code error to %s url(%s): got %d", h.Conn.Addr, u.Path, resp.StatusCode)
	}
	msg := "HTTP status code"
	if u.Digest != nil {
		if !bytes.Equal(u.Digest, resp.Digest[:]) {
			return fail(start, "MD5 digest error to %s url(%s): got %x", h.Conn.Addr, u.Path, resp.Digest)
		}
		msg = "MD5 digest"
	}
	if u.Regex != nil {
		if u.Regex.Match(resp.Body) == u.RegexNoMatch {
			return fail(start, "Regex match failed to %s url(%s)", h.Conn.Addr, u.Path)
		}
		msg = "Regex match"
	}
	return pass(start, fmt.Sprintf("%s success to %s url(%s)", msg, h.Conn.Addr, u.Path))
}

// HTTPResponse is what one GET returned, as keepalived sees it.
type HTTPResponse struct {
	// Request is the exact request sent.
	Request []byte
	// Header is the raw response header up to and including the blank line.
	Header []byte
	// HeaderComplete is false when the stream ended before "\r\n\r\n"
	// (keepalived: "no data received").
	HeaderComplete bool
	// StatusCode is the code parsed from the status line, 0 if malformed.
	StatusCode int
	// ContentLength is the Content-Length header, -1 when absent.
	ContentLength int64
	// BodyBytes counts the bytes received after the header, until EOF.
	BodyBytes int64
	// Digest is the MD5 of the raw body bytes (not de-chunked), cut at
	// ContentLength when that header is present, as keepalived and genhash
	// compute it.
	Digest [md5.Size]byte
	// Body holds the first maxRegexBody bytes of the body when the URL has a
	// regex (or when the fetch was asked to keep it).
	Body []byte
}

// maxRegexBody bounds how much body is kept for regex matching.
const maxRegexBody = 1 << 20

// Request builds the GET request keepalived sends for URL i.
func (h *HTTPGet) Request(i int) []byte {
	u := &h.URLs[i]
	host := u.VirtualHost
	if host == "" {
		host = h.VirtualHost
	}
	if host == "" {
		// No vhost: the connected address, bracketed for IPv6 (RFC 2732).
		host = h.Conn.Addr.String()
	}
	minor := 0
	if h.Protocol == HTTP11 {
		minor = 1
	}
	conn := ""
	if h.Protocol == HTTP10C || h.Protocol == HTTP11 {
		conn = "Connection: close\r\n"
	}
	return fmt.Appendf(nil, "GET %s HTTP/1.%d\r\nUser-Agent: KeepAliveClient\r\n%sHost: %s\r\n\r\n", u.Path, minor, conn, host)
}

func (h *HTTPGet) sniName(u *URL) string {
	switch {
	case u.VirtualHost != "":
		return u.VirtualHost
	case h.SNIHost != "":
		return h.SNIHost
	}
	return h.VirtualHost
}

// FetchError is a failure to get a response at all. Msg is keepalived's
// wording for the stage that failed ("Connection failed", "Timeout HTTP
// read", …), which genhash prints as is.
type FetchError struct {
	Msg  string
	Addr string
	Err  error
}

func (e *FetchError) Error() string { return fmt.Sprintf("%s %s: %v", e.Msg, e.Addr, e.Err) }

// Unwrap returns the underlying network or TLS error.
func (e *FetchError) Unwrap() error { return e.Err }

func isTimeout(ctx context.Context, err error) bool {
	var ne net.Error
	return ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout())
}

// Fetch sends URL i's request and reads the response until the server
// closes the connection, as keepalived does. It returns a *FetchError for
// connect, handshake, write and read failures; the verdict on the response
// is CheckStep's. The response is returned as far as it was read.
func (h *HTTPGet) Fetch(ctx context.Context, i int) (*HTTPResponse, error) {
	u := &h.URLs[i]
	addr := h.Conn.Addr.String()
	raw, err := h.Conn.dial(ctx, "tcp")
	if err != nil {
		msg := "Connection failed"
		if isTimeout(ctx, err) {
			msg = "Timeout connecting"
		}
		return nil, &FetchError{Msg: msg, Addr: addr, Err: err}
	}
	defer raw.Close()
	stop := watch(ctx, raw)
	defer stop()

	var conn net.Conn = raw
	if h.SSL {
		cfg := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // keepalived does not verify without a ca
		if h.TLS != nil {
			cfg = h.TLS.Clone()
		}
		if h.EnableSNI {
			cfg.ServerName = h.sniName(u)
		} else if cfg.InsecureSkipVerify {
			cfg.ServerName = ""
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			msg := "SSL handshake/communication error connecting to"
			if isTimeout(ctx, err) {
				msg = "Timeout connecting"
			}
			return nil, &FetchError{Msg: msg, Addr: addr, Err: err}
		}
		conn = tc
	}

	resp := &HTTPResponse{Request: h.Request(i), ContentLength: -1}
	if _, err := conn.Write(resp.Request); err != nil {
		msg := "Cannot send get request to"
		if isTimeout(ctx, err) {
			msg = "Timeout WEB write"
		}
		return nil, &FetchError{Msg: msg, Addr: addr, Err: err}
	}
	if err := readResponse(conn, resp, u.Regex != nil || h.KeepBody, h.SSL); err != nil {
		msg := "Read error with"
		switch {
		case isTimeout(ctx, err) && h.SSL:
			msg = "Timeout SSL read"
		case isTimeout(ctx, err):
			msg = "Timeout HTTP read"
		case h.SSL:
			msg = "SSL read error from"
		}
		return resp, &FetchError{Msg: msg, Addr: addr, Err: err}
	}
	return resp, nil
}

// readResponse reads conn to EOF, splitting header from body and hashing the
// body. For SSL an unclean close ends the stream like a close_notify does,
// because keepalived stops on any SSL_read error.
func readResponse(conn net.Conn, resp *HTTPResponse, keepBody, ssl bool) error {
	hash := md5.New()
	var hdr []byte
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		data := buf[:n]
		if !resp.HeaderComplete && n > 0 {
			hdr = append(hdr, data...)
			end := bytes.Index(hdr, []byte("\r\n\r\n"))
			data = nil
			if end >= 0 {
				resp.HeaderComplete = true
				resp.Header = hdr[:end+4]
				data = hdr[end+4:]
				resp.StatusCode = parseStatusCode(resp.Header)
				resp.ContentLength = parseContentLength(resp.Header)
			}
		}
		if len(data) > 0 {
			take := int64(len(data))
			if cl := resp.ContentLength; cl >= 0 {
				take = max(0, min(take, cl-resp.BodyBytes))
			}
			hash.Write(data[:take])
			if keepBody && len(resp.Body) < maxRegexBody {
				resp.Body = append(resp.Body, data[:min(len(data), maxRegexBody-len(resp.Body))]...)
			}
			resp.BodyBytes += int64(len(data))
		}
		if err != nil {
			copy(resp.Digest[:], hash.Sum(nil))
			if errors.Is(err, io.EOF) || (ssl && errors.Is(err, io.ErrUnexpectedEOF)) {
				return nil
			}
			return err
		}
	}
}

// parseStatusCode reads the code between the first and second space of the
// status line; anything other than exactly three digits there gives 0, as in
// keepalived's extract_status_code.
func parseStatusCode(h []byte) int {
	line, _, _ := bytes.Cut(h, []byte("\r"))
	_, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(rest) < 4 || rest[3] != ' ' {
		return 0
	}
	code, err := strconv.Atoi(string(rest[:3]))
	if err != nil || code < 0 {
		return 0
	}
	return code
}

// parseContentLength finds "Content-Length:" (case-sensitive, as keepalived
// matches it) and returns its value, or -1.
func parseContentLength(h []byte) int64 {
	_, v, ok := bytes.Cut(h, []byte("Content-Length:"))
	if !ok {
		return -1
	}
	v = bytes.TrimLeft(v, " \t")
	end := bytes.IndexAny(v, "\r\n")
	if end < 0 {
		end = len(v)
	}
	n, err := strconv.ParseInt(string(v[:end]), 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}
