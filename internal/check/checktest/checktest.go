// Package checktest starts real servers (Debian's nginx, or any foreground
// daemon) on loopback for the tests of package check and genhash. Each
// helper skips the test, with the reason, when the server is not installed.
package checktest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// WaitListening polls until addr accepts TCP connections, or fails.
func WaitListening(t testing.TB, network, addr string, exited <-chan struct{}, logf func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout(network, addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening after 10s (last error %v):\n%s", addr, err, logf())
		}
		select {
		case <-exited:
			t.Fatalf("server exited before listening on %s:\n%s", addr, logf())
		case <-tick.C:
		}
	}
}

// StartDaemon runs a foreground server binary, killing it in cleanup.
func StartDaemon(t testing.TB, dir string, name string, args ...string) <-chan struct{} {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	return exited
}

// SelfSigned writes a self-signed ECDSA certificate for 127.0.0.1, ::1 and
// the given names into dir, returning the cert and key paths and the pool
// that trusts it.
func SelfSigned(t testing.TB, dir string, names ...string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "vigil check test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              names,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, "cert.pem")
	keyFile = filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// Nginx is a Debian nginx started by a test.
type Nginx struct {
	HTTP, HTTPS netip.AddrPort
	Root        string // document root of the default server
	VhostRoot   string // document root of server_name www.vhost.test
	Pool        *x509.CertPool
}

// StartNginx runs /usr/sbin/nginx in the foreground on two free loopback
// ports (HTTP and HTTPS) with a config written into a temp dir.
func StartNginx(t testing.TB) *Nginx {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx"} {
			if _, e := os.Stat(p); e == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		t.Skipf("nginx not installed (apt-get install nginx): %v", err)
	}
	dir := t.TempDir()
	for _, d := range []string{"root", "vhost", "logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	certFile, keyFile, pool := SelfSigned(t, dir, "www.vhost.test", "localhost")
	s := &Nginx{Root: filepath.Join(dir, "root"), VhostRoot: filepath.Join(dir, "vhost"), Pool: pool}
	hp, sp := FreePort(t), FreePort(t)
	s.HTTP = netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", hp))
	s.HTTPS = netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", sp))
	userLine := ""
	if os.Geteuid() == 0 {
		userLine = "user root;" // workers must read the root-owned temp dir
	}
	conf := fmt.Sprintf(`%s
worker_processes 1;
error_log %[2]s/logs/error.log;
pid %[2]s/logs/nginx.pid;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path %[2]s/tmp/body;
	proxy_temp_path %[2]s/tmp/proxy;
	fastcgi_temp_path %[2]s/tmp/fastcgi;
	uwsgi_temp_path %[2]s/tmp/uwsgi;
	scgi_temp_path %[2]s/tmp/scgi;
	default_type text/html;
	server {
		listen 127.0.0.1:%[3]d default_server;
		listen 127.0.0.1:%[4]d ssl default_server;
		ssl_certificate %[5]s;
		ssl_certificate_key %[6]s;
		server_name _;
		root %[2]s/root;
		location = /teapot { return 418 "short and stout\n"; }
	}
	server {
		listen 127.0.0.1:%[3]d;
		listen 127.0.0.1:%[4]d ssl;
		ssl_certificate %[5]s;
		ssl_certificate_key %[6]s;
		server_name www.vhost.test;
		root %[2]s/vhost;
	}
}
`, userLine, dir, hp, sp, certFile, keyFile)
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	exited := StartDaemon(t, dir, bin, "-p", dir, "-c", confFile, "-g", "daemon off;")
	logf := func() string { b, _ := os.ReadFile(filepath.Join(dir, "logs", "error.log")); return string(b) }
	WaitListening(t, "tcp", s.HTTP.String(), exited, logf)
	WaitListening(t, "tcp", s.HTTPS.String(), exited, logf)
	return s
}

// Child is this test binary re-run as a helper process (the benchmarks'
// loopback listeners, kept out of the measured process's CPU).
type Child struct {
	Pid int
	In  io.WriteCloser // closing it tells the child to exit
	Out *bufio.Scanner // its standard output, line by line
}

// StartChild runs this test binary with -test.run=^test$ and env (NAME=VALUE)
// added, its standard error passed through; the child ends, and is waited
// for, when t ends.
func StartChild(t testing.TB, test string, env ...string) *Child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s in a child process: %v", test, err)
	}
	t.Cleanup(func() {
		in.Close() // EOF: the child exits
		_ = cmd.Wait()
	})
	return &Child{Pid: cmd.Process.Pid, In: in, Out: bufio.NewScanner(out)}
}
