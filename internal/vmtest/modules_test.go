package vmtest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseModinfo(t *testing.T) {
	data := []byte("alias=a\x00alias=b\x00depends=nf_conntrack,libcrc32c\x00name=ip_vs\x00\x00vermagic=6.1\x00")
	got := parseModinfo(data)
	want := map[string]string{"alias": "a", "depends": "nf_conntrack,libcrc32c", "name": "ip_vs", "vermagic": "6.1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestLoadOrder(t *testing.T) {
	mods := map[string]Module{
		"ip_vs":          {Name: "ip_vs", Depends: []string{"nf_conntrack", "nf_defrag_ipv6", "libcrc32c"}},
		"nf_conntrack":   {Name: "nf_conntrack", Depends: []string{"nf_defrag_ipv4", "nf_defrag_ipv6", "libcrc32c"}},
		"nf_defrag_ipv4": {Name: "nf_defrag_ipv4"},
		"nf_defrag_ipv6": {Name: "nf_defrag_ipv6"},
		"libcrc32c":      {Name: "libcrc32c"},
		"ip_vs_rr":       {Name: "ip_vs_rr", Depends: []string{"ip_vs"}},
		"loop_a":         {Name: "loop_a", Depends: []string{"loop_b"}},
		"loop_b":         {Name: "loop_b", Depends: []string{"loop_a"}},
		"needs_ghost":    {Name: "needs_ghost", Depends: []string{"ghost"}},
	}
	order, err := LoadOrder(mods, []string{"ip_vs_rr", "ip_vs"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range order {
		names = append(names, m.Name)
	}
	want := []string{"nf_defrag_ipv4", "nf_defrag_ipv6", "libcrc32c", "nf_conntrack", "ip_vs", "ip_vs_rr"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	for _, tc := range []struct{ want, err string }{
		{"loop_a", "dependency cycle: loop_a -> loop_b -> loop_a"},
		{"needs_ghost", `"ghost" (needed by needs_ghost) not found`},
		{"ip-vs-sh", `"ip_vs_sh" not found`},
	} {
		if _, err := LoadOrder(mods, []string{tc.want}); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("LoadOrder(%s) error %v, want %q", tc.want, err, tc.err)
		}
	}
}

func TestParseLdd(t *testing.T) {
	out := []byte(`	linux-vdso.so.1 (0x00007ffd)
	libpopt.so.0 => /lib/x86_64-linux-gnu/libpopt.so.0 (0x00007f2b)
	libnl-3.so.200 => /lib/x86_64-linux-gnu/libnl-3.so.200 (0x00007f2b)
	libmissing.so => not found
	/lib64/ld-linux-x86-64.so.2 (0x00007f2b)
`)
	want := []string{"/lib/x86_64-linux-gnu/libpopt.so.0", "/lib/x86_64-linux-gnu/libnl-3.so.200", "/lib64/ld-linux-x86-64.so.2"}
	if diff := cmp.Diff(want, parseLdd(out)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseAptDepends(t *testing.T) {
	got, err := parseAptDepends([]byte("linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n"))
	if err != nil || got != "linux-image-6.1.0-56-amd64" {
		t.Errorf("= %q, %v", got, err)
	}
	if _, err := parseAptDepends([]byte("linux-image-amd64\n")); err == nil {
		t.Error("no Depends line accepted")
	}
}
