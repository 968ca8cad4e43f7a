package conf

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"testing/fstest"
)

// bigConfig returns a configuration of at least lines lines: global_defs,
// then alternating vrrp_instance (20 lines) and virtual_server blocks with
// four real servers (32 lines), with comments and blank lines as real
// files have them.
func bigConfig(lines int) string {
	var b strings.Builder
	b.WriteString("! generated for BenchmarkParse100k\nglobal_defs {\n    router_id bench\n    script_user root\n}\n\n")
	for i := 0; ; i++ {
		if i%64 == 0 && strings.Count(b.String(), "\n") >= lines {
			break
		}
		if i%2 == 0 {
			fmt.Fprintf(&b, `vrrp_instance VI_%d {
    state BACKUP
    interface eth%d
    virtual_router_id %d
    priority %d   # local preference
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass s3cr%d
    }
    virtual_ipaddress {
        10.%d.%d.1/24 dev eth0 label eth0:%d
        10.%d.%d.2/24
    }
    notify_master "/etc/keepalived/notify.sh master VI_%d"
    track_script {
        chk_%d weight -20
    }
}

`, i, i%4, i%255+1, 100+i%100, i, i/256%256, i%256, i%100, i/256%256, i%256, i, i%7)
		} else {
			fmt.Fprintf(&b, "virtual_server 10.%d.%d.100 80 {\n    delay_loop 6\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n\n", i/256%256, i%256)
			for r := 1; r <= 4; r++ {
				fmt.Fprintf(&b, `    real_server 192.168.%d.%d 8080 {
        weight 1
        HTTP_GET {
            url {
                path /healthz
                status_code 200
            }
            connect_timeout 3
        }
    }
`, i%256, r)
			}
			b.WriteString("}\n\n")
		}
	}
	return b.String()
}

// BenchmarkParse100k parses a generated 100,000-line configuration
// through source, lexer and parser. Target: under 200 ms per parse.
// VIGIL_BENCH_CONF=path also writes the file there, to time keepalived -t
// on the same input.
func BenchmarkParse100k(b *testing.B) {
	text := bigConfig(100_000)
	if p := os.Getenv("VIGIL_BENCH_CONF"); p != "" {
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	fsys := fstest.MapFS{"etc/keepalived/keepalived.conf": {Data: []byte(text), Mode: 0o644}}
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	var nodes []*Node
	for b.Loop() {
		var ds Diagnostics
		nodes, ds = Parse(fsys, "/etc/keepalived/keepalived.conf", ParseOptions{ConfigID: "bench"})
		if len(ds) != 0 {
			b.Fatalf("findings: %s", ds[0])
		}
	}
	b.ReportMetric(float64(strings.Count(text, "\n")), "lines")
	if len(nodes) < 2000 {
		b.Fatalf("only %d top-level nodes", len(nodes))
	}
}

// BenchmarkLoad100k is what `vigil -t` does with the same file: parse,
// decode and validate. Target: under 200 ms.
func BenchmarkLoad100k(b *testing.B) {
	text := bigConfig(100_000)
	fsys := fstest.MapFS{"etc/keepalived/keepalived.conf": {Data: []byte(text), Mode: 0o644}}
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		cfg, _ := Load(fsys, "/etc/keepalived/keepalived.conf", LoadOptions{Parse: ParseOptions{ConfigID: "bench"}})
		if len(cfg.Instances) < 1000 {
			b.Fatalf("only %d instances decoded", len(cfg.Instances))
		}
	}
}

// BenchmarkKeepalivedCheck100k runs Debian's `keepalived -t` on the same
// file, for the comparison next to BenchmarkLoad100k in one run.
func BenchmarkKeepalivedCheck100k(b *testing.B) {
	const ka = "/usr/sbin/keepalived"
	if _, err := os.Stat(ka); err != nil {
		b.Skipf("keepalived not installed: %v", err)
	}
	path := b.TempDir() + "/keepalived.conf"
	if err := os.WriteFile(path, []byte(bigConfig(100_000)), 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		// keepalived -t exits non-zero here (the eth0..3 interfaces do
		// not exist), after reading the whole file.
		out, err := exec.Command(ka, "-t", "-f", path).CombinedOutput()
		if err == nil || len(out) == 0 {
			b.Fatalf("keepalived -t: err=%v, %d bytes of output; want findings", err, len(out))
		}
	}
}
