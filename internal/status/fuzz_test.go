package status

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"unicode/utf8"

	"github.com/vigil-ha/vigil/internal/vrrp"
)

// WriteJSON always writes valid JSON, whatever the names hold, and a valid
// UTF-8 name reads back unchanged.
func FuzzWriteJSON(f *testing.F) {
	f.Add("VI_1", "eth0", "eth0:1")
	f.Add(`a"b\c/d`, "</script>", "\x00\x1f")
	f.Add("\xff\xfe", "é", "\u2028")
	f.Fuzz(func(t *testing.T, name, iface, label string) {
		st := InstanceStatus{
			Name: name, Interface: iface, State: vrrp.StateMaster,
			VIPs: []VIP{{Prefix: netip.MustParsePrefix("10.99.0.1/24"), Label: label}},
		}
		var b bytes.Buffer
		if err := WriteJSON(&b, []InstanceStatus{st}); err != nil {
			t.Fatal(err)
		}
		var back []struct {
			Data struct {
				Iname string   `json:"iname"`
				VIPs  []string `json:"vips"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b.Bytes(), &back); err != nil {
			t.Fatalf("invalid JSON for %q: %v\n%s", name, err, b.Bytes())
		}
		if utf8.ValidString(name) && back[0].Data.Iname != name {
			t.Errorf("iname %q read back as %q", name, back[0].Data.Iname)
		}
	})
}

func TestInstanceStatusJSONRoundTrip(t *testing.T) {
	for _, st := range fixture() {
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		var back InstanceStatus
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		b2, _ := json.Marshal(back)
		if !bytes.Equal(b, b2) {
			t.Errorf("round trip changed %s:\n%s\n%s", st.Name, b, b2)
		}
	}
	var st InstanceStatus
	if err := json.Unmarshal([]byte(`{"name":"VI_1","state":"PRIMARY"}`), &st); err == nil {
		t.Error("unknown state accepted")
	}
}
