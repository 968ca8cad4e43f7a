package check

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-ha/vigil/internal/check/checktest"
)

// rawServer accepts connections on loopback and hands each to serve; it
// returns the address. Connections are closed after serve returns.
func rawServer(t *testing.T, network string, serve func(c net.Conn)) netip.AddrPort {
	t.Helper()
	host := "127.0.0.1:0"
	if network == "tcp6" {
		host = "[::1]:0"
	}
	ln, err := net.Listen(network, host)
	if err != nil {
		t.Skipf("no %s loopback: %v", network, err)
	}
	done := make(chan struct{})
	conns := make(chan net.Conn, 16)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
			go func() { defer c.Close(); serve(c) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		close(conns)
		for c := range conns {
			c.Close()
		}
	})
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// readRequest reads one request header block.
func readRequest(c net.Conn) string {
	r := bufio.NewReader(c)
	var sb strings.Builder
	for {
		line, err := r.ReadString('\n')
		sb.WriteString(line)
		if err != nil || line == "\r\n" {
			return sb.String()
		}
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func md5sum(s string) []byte { h := md5.Sum([]byte(s)); return h[:] }

func TestHTTPGetSendsKeepalivedRequest(t *testing.T) {
	tests := []struct {
		name    string
		network string
		h       HTTPGet
		want    string // %s is the server's host:port
	}{
		{"http 1.0 default, Host is ip:port", "tcp", HTTPGet{URLs: []URL{{Path: "/a"}}},
			"GET /a HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: %s\r\n\r\n"},
		{"1.0C adds Connection close", "tcp", HTTPGet{Protocol: HTTP10C, URLs: []URL{{Path: "/"}}},
			"GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: %s\r\n\r\n"},
		{"1.1 with checker virtualhost", "tcp", HTTPGet{Protocol: HTTP11, VirtualHost: "www.example.test", URLs: []URL{{Path: "/x?y=1"}}},
			"GET /x?y=1 HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example.test\r\n\r\n"},
		{"url virtualhost wins", "tcp", HTTPGet{VirtualHost: "checker.test", URLs: []URL{{Path: "/", VirtualHost: "url.test"}}},
			"GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: url.test\r\n\r\n"},
		{"IPv6 Host is bracketed (RFC 2732)", "tcp6", HTTPGet{URLs: []URL{{Path: "/"}}},
			"GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: %s\r\n\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan string, 1)
			addr := rawServer(t, tc.network, func(c net.Conn) {
				got <- readRequest(c)
				io.WriteString(c, "HTTP/1.0 200 OK\r\n\r\nhi")
			})
			tc.h.Conn = Conn{Addr: addr}
			r := tc.h.Check(ctxTimeout(t, 5*time.Second))
			if !r.OK {
				t.Errorf("Check = %+v, want OK", r)
			}
			want := tc.want
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, addr)
			}
			if g := <-got; g != want {
				t.Errorf("request\n got %q\nwant %q", g, want)
			}
		})
	}
}

func TestHTTPGetVerdicts(t *testing.T) {
	const body = "<html>hello vigil</html>\n"
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "maintenance")
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	addr := netip.MustParseAddrPort(srv.Listener.Addr().String())

	tests := []struct {
		name   string
		url    URL
		ok     bool
		reason string
	}{
		{"200 within default 200-299", URL{Path: "/ok"}, true, "HTTP status code success"},
		{"503 outside default", URL{Path: "/down"}, false, "HTTP status code error"},
		{"503 listed", URL{Path: "/down", StatusCodes: []StatusRange{{200, 200}, {500, 599}}}, true, "HTTP status code success"},
		{"302 not followed, not in default", URL{Path: "/redirect"}, false, "got 302"},
		{"404", URL{Path: "/missing"}, false, "got 404"},
		{"digest matches", URL{Path: "/ok", Digest: md5sum(body)}, true, "MD5 digest success"},
		{"wrong digest", URL{Path: "/ok", Digest: md5sum("other")}, false, "MD5 digest error"},
		{"status checked before digest", URL{Path: "/down", Digest: md5sum("maintenance")}, false, "HTTP status code error"},
		{"regex matches", URL{Path: "/ok", Regex: regexp.MustCompile(`hello \w+`)}, true, "Regex match success"},
		{"regex does not match", URL{Path: "/ok", Regex: regexp.MustCompile(`goodbye`)}, false, "Regex match failed"},
		{"regex_no_match with match", URL{Path: "/ok", Regex: regexp.MustCompile(`hello`), RegexNoMatch: true}, false, "Regex match failed"},
		{"regex_no_match without match", URL{Path: "/ok", Regex: regexp.MustCompile(`error`), RegexNoMatch: true}, true, "Regex match success"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &HTTPGet{Conn: Conn{Addr: addr}, URLs: []URL{tc.url}}
			r := h.Check(ctxTimeout(t, 5*time.Second))
			if r.OK != tc.ok || !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("Check = {OK:%v Reason:%q}, want OK=%v with %q", r.OK, r.Reason, tc.ok, tc.reason)
			}
		})
	}
}

func TestHTTPGetMultipleURLsFailOnFirstBad(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			w.WriteHeader(500)
		}
	}))
	t.Cleanup(srv.Close)
	h := &HTTPGet{Conn: Conn{Addr: netip.MustParseAddrPort(srv.Listener.Addr().String())},
		URLs: []URL{{Path: "/good"}, {Path: "/bad"}, {Path: "/good2"}}}
	if h.Steps() != 3 {
		t.Fatalf("Steps = %d", h.Steps())
	}
	r := h.Check(ctxTimeout(t, 5*time.Second))
	if r.OK || !strings.Contains(r.Reason, "url(/bad)") {
		t.Errorf("Check = %+v, want failure on /bad", r)
	}
	if r := h.CheckStep(ctxTimeout(t, 5*time.Second), 2); !r.OK {
		t.Errorf("CheckStep(2) = %+v, want OK", r)
	}
}

// TestHTTPGetDigestIsOverRawBody checks keepalived's digest rules: the body
// is hashed as received (chunk framing included) and cut at Content-Length.
func TestHTTPGetDigestIsOverRawBody(t *testing.T) {
	tests := []struct {
		name, response, hashed string
	}{
		{"chunked body hashed with its framing",
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			"5\r\nhello\r\n0\r\n\r\n"},
		{"cut at Content-Length",
			"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello trailing junk",
			"hello"},
		{"lower-case content-length is not seen (keepalived matches case)",
			"HTTP/1.0 200 OK\r\ncontent-length: 5\r\n\r\nhello trailing junk",
			"hello trailing junk"},
		{"empty body", "HTTP/1.0 204 No Content\r\n\r\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := rawServer(t, "tcp", func(c net.Conn) {
				readRequest(c)
				io.WriteString(c, tc.response)
			})
			h := &HTTPGet{Conn: Conn{Addr: addr}, URLs: []URL{{Path: "/", Digest: md5sum(tc.hashed)}}}
			if r := h.Check(ctxTimeout(t, 5*time.Second)); !r.OK {
				t.Errorf("Check = %+v, want digest of %q to match", r, tc.hashed)
			}
		})
	}
}

func TestHTTPGetFailures(t *testing.T) {
	closed := func() netip.AddrPort {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := ln.Addr().(*net.TCPAddr).AddrPort()
		ln.Close()
		return a
	}()
	tests := []struct {
		name    string
		addr    netip.AddrPort
		timeout time.Duration
		reason  string
	}{
		{"closed port", closed, 2 * time.Second, "connection refused"},
		{"accepts and stalls", rawServer(t, "tcp", func(c net.Conn) { io.Copy(io.Discard, c) }), 300 * time.Millisecond, "Timeout HTTP read"},
		{"header but never closes", rawServer(t, "tcp", func(c net.Conn) {
			readRequest(c)
			io.WriteString(c, "HTTP/1.0 200 OK\r\n\r\nstill sending")
			io.Copy(io.Discard, c)
		}), 300 * time.Millisecond, "Timeout HTTP read"},
		{"closes without a header end", rawServer(t, "tcp", func(c net.Conn) {
			readRequest(c)
			io.WriteString(c, "HTTP/1.0 200 OK\r\n")
		}), 2 * time.Second, "no data received"},
		{"garbage status line", rawServer(t, "tcp", func(c net.Conn) {
			readRequest(c)
			io.WriteString(c, "HTTP/1.0 2000 OK\r\n\r\n")
		}), 2 * time.Second, "got 0"},
	}
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		if !t.Failed() {
			// Every probe closed its connection, so the servers' handlers
			// returned too: nothing of the checker may be left running.
			waitGoroutines(t, before)
		}
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &HTTPGet{Conn: Conn{Addr: tc.addr}, URLs: []URL{{Path: "/"}}}
			start := time.Now()
			r := h.Check(ctxTimeout(t, tc.timeout))
			if r.OK || !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("Check = %+v, want failure with %q", r, tc.reason)
			}
			if el := time.Since(start); el > tc.timeout+time.Second {
				t.Errorf("Check took %v, over its %v timeout", el, tc.timeout)
			}
		})
	}
}

func TestSSLGet(t *testing.T) {
	sni := make(chan string, 8)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure")
	}))
	srv.TLS = &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		sni <- h.ServerName
		return nil, nil
	}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := netip.MustParseAddrPort(srv.Listener.Addr().String())
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs

	tests := []struct {
		name    string
		h       HTTPGet
		ok      bool
		wantSNI string
	}{
		{"no verification by default", HTTPGet{}, true, ""},
		{"enable_sni sends the virtualhost", HTTPGet{EnableSNI: true, VirtualHost: "example.com"}, true, "example.com"},
		{"url virtualhost is the SNI", HTTPGet{EnableSNI: true, VirtualHost: "example.com", SNIHost: "vs.example.com"}, true, "vs.example.com"},
		{"verification against the right CA", HTTPGet{TLS: &tls.Config{RootCAs: pool, ServerName: "example.com"}}, true, "example.com"},
		{"verification against an empty pool fails", HTTPGet{TLS: &tls.Config{RootCAs: x509NewPool(), ServerName: "example.com"}}, false, "example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.h.Conn = Conn{Addr: addr}
			tc.h.SSL = true
			tc.h.URLs = []URL{{Path: "/", Digest: md5sum("secure")}}
			r := tc.h.Check(ctxTimeout(t, 5*time.Second))
			if r.OK != tc.ok {
				t.Errorf("Check = %+v, want OK=%v", r, tc.ok)
			}
			if got := <-sni; got != tc.wantSNI {
				t.Errorf("SNI = %q, want %q", got, tc.wantSNI)
			}
		})
	}
}

func TestHTTPGetAgainstNginx(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping nginx integration test")
	}
	ng := checktest.StartNginx(t)
	page := strings.Repeat("vigil nginx page\n", 1000) // > one read buffer
	if err := os.WriteFile(filepath.Join(ng.Root, "index.html"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ng.VhostRoot, "index.html"), []byte("vhost page\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		h    HTTPGet
		ok   bool
		want string
	}{
		{"HTTP_GET digest", HTTPGet{Conn: Conn{Addr: ng.HTTP}, URLs: []URL{{Path: "/index.html", Digest: md5sum(page)}}}, true, "MD5 digest success"},
		{"HTTP_GET 1.1 digest", HTTPGet{Protocol: HTTP11, Conn: Conn{Addr: ng.HTTP}, URLs: []URL{{Path: "/index.html", Digest: md5sum(page)}}}, true, "MD5 digest success"},
		{"HTTP_GET wrong digest", HTTPGet{Conn: Conn{Addr: ng.HTTP}, URLs: []URL{{Path: "/index.html", Digest: md5sum("x")}}}, false, "MD5 digest error"},
		{"HTTP_GET 404", HTTPGet{Conn: Conn{Addr: ng.HTTP}, URLs: []URL{{Path: "/nope"}}}, false, "got 404"},
		{"HTTP_GET 418 accepted by status_code", HTTPGet{Conn: Conn{Addr: ng.HTTP}, URLs: []URL{{Path: "/teapot", StatusCodes: []StatusRange{{418, 418}}}}}, true, "success"},
		{"virtualhost picks the nginx server block", HTTPGet{Conn: Conn{Addr: ng.HTTP}, VirtualHost: "www.vhost.test", URLs: []URL{{Path: "/index.html", Digest: md5sum("vhost page\n")}}}, true, "MD5 digest success"},
		{"SSL_GET digest", HTTPGet{SSL: true, Conn: Conn{Addr: ng.HTTPS}, URLs: []URL{{Path: "/index.html", Digest: md5sum(page)}}}, true, "MD5 digest success"},
		{"SSL_GET with SNI and verification", HTTPGet{SSL: true, EnableSNI: true, VirtualHost: "www.vhost.test", TLS: &tls.Config{RootCAs: ng.Pool}, Conn: Conn{Addr: ng.HTTPS}, URLs: []URL{{Path: "/index.html", Digest: md5sum("vhost page\n")}}}, true, "MD5 digest success"},
		{"SSL_GET verification fails on a name not in the cert", HTTPGet{SSL: true, EnableSNI: true, VirtualHost: "other.test", TLS: &tls.Config{RootCAs: ng.Pool}, Conn: Conn{Addr: ng.HTTPS}, URLs: []URL{{Path: "/"}}}, false, "SSL handshake"},
		{"plain HTTP to the TLS port", HTTPGet{Conn: Conn{Addr: ng.HTTPS}, URLs: []URL{{Path: "/"}}}, false, "got 400"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.h.Check(ctxTimeout(t, 5*time.Second))
			if r.OK != tc.ok || !strings.Contains(r.Reason, tc.want) {
				t.Errorf("Check = {OK:%v Reason:%q}, want OK=%v with %q", r.OK, r.Reason, tc.ok, tc.want)
			}
		})
	}
}

func TestParseStatusCodes(t *testing.T) {
	got, errs := ParseStatusCodes([]string{"200", "300-399", "99", "600", "500-400", "2x", "503"})
	want := []StatusRange{{200, 200}, {300, 399}, {503, 503}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ranges (-want +got):\n%s", diff)
	}
	if len(errs) != 4 {
		t.Fatalf("errors = %v, want 4", errs)
	}
	if !strings.Contains(errs[0].Error(), "'99'") || !strings.Contains(errs[0].Error(), "100-599") {
		t.Errorf("error %q does not name the argument and range", errs[0])
	}
}

func TestParseHTTPProtocolAndDigest(t *testing.T) {
	for in, want := range map[string]HTTPProtocol{"1.0": HTTP10, "1.0C": HTTP10C, "1.0c": HTTP10C, "1.1": HTTP11} {
		if got, err := ParseHTTPProtocol(in); err != nil || got != want {
			t.Errorf("ParseHTTPProtocol(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseHTTPProtocol("2"); err == nil {
		t.Error("ParseHTTPProtocol(2) succeeded")
	}
	d, err := ParseDigest("9B3A0C85A887A256D6939DA88AABD8CD")
	if err != nil || fmt.Sprintf("%x", d) != "9b3a0c85a887a256d6939da88aabd8cd" {
		t.Errorf("ParseDigest = %x, %v", d, err)
	}
	for _, bad := range []string{"9b3a", "zz3a0c85a887a256d6939da88aabd8cd"} {
		if _, err := ParseDigest(bad); err == nil {
			t.Errorf("ParseDigest(%q) succeeded", bad)
		}
	}
}
