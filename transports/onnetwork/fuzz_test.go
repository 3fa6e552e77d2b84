package onnetwork

import (
	"net"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/miekg/dns"
)

// announcement builds a device's mDNS response (PTR, SRV, TXT, A) as the
// simulator and firmware send it.
func announcement(f *testing.F, instance string, txt ...string) []byte {
	svc := ServiceType + "." + Domain + "."
	fqdn := instance + "." + svc
	m := new(dns.Msg)
	m.Response = true
	m.Answer = []dns.RR{
		&dns.PTR{Hdr: dns.RR_Header{Name: svc, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 120}, Ptr: fqdn},
	}
	m.Extra = []dns.RR{
		&dns.SRV{Hdr: dns.RR_Header{Name: fqdn, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: 120}, Port: 8080, Target: "node1.local."},
		&dns.TXT{Hdr: dns.RR_Header{Name: fqdn, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 120}, Txt: txt},
		&dns.A{Hdr: dns.RR_Header{Name: "node1.local.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 120}, A: net.IPv4(10, 0, 0, 7)},
	}
	b, err := m.Pack()
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzBrowseMessages feeds arbitrary mDNS messages (TXT records above all:
// node_id, port, sec_version, pop_required) to the browse cache, then lists
// the devices and formats the table. It must never panic, and every device
// listed has a usable address.
func FuzzBrowseMessages(f *testing.F) {
	seed := announcement(f, "NODE1", "node_id=NODE1", "port=8080", "sec_version=2", "pop_required=true")
	m := new(dns.Msg)
	if err := m.Unpack(seed); err != nil {
		f.Fatal(err)
	}
	c := newBrowseCache(ServiceType + "." + Domain + ".")
	c.update(m, "lo")
	if got := c.found(); len(got) != 1 || got[0].NodeID != "NODE1" || got[0].Addr() != "10.0.0.7:8080" {
		f.Fatalf("seed announcement found %+v", got)
	}
	f.Add(seed, []byte{})
	f.Add(announcement(f, `My\032Node`, "node_id=", "port=99999", "sec_version=x", "=v", "novalue"), announcement(f, "NODE1"))
	f.Add(announcement(f, "A", "NODE_ID=a", "node_id=b", "port= 80 "), []byte{0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		c := newBrowseCache(ServiceType + "." + Domain + ".")
		for _, raw := range [][]byte{a, b} {
			m := new(dns.Msg)
			if m.Unpack(raw) != nil {
				continue
			}
			c.update(m, "lo")
		}
		found := c.found()
		for _, d := range found {
			if _, _, err := net.SplitHostPort(d.Addr()); err != nil {
				t.Fatalf("device %+v has address %q: %v", d, d.Addr(), err)
			}
			_ = d.PoPColumn()
			_ = d.CLISecVersion()
		}
		_ = FormatTable(found)
	})
}

// FuzzParseVersion feeds arbitrary esp_local_ctrl/version replies (JSON of
// either variant, plain text, anything). It must never panic, keep the raw
// reply, report nothing parsed on error, and accept as plain text only a
// printable line.
func FuzzParseVersion(f *testing.F) {
	f.Add([]byte(`{"on_network":{"ver":"v1.0","cap":["ch_resp"]}}`))
	f.Add([]byte(`{"local_ctrl":{"ver":"v1.0","sec_ver":2,"sec_patch_ver":1}}`))
	f.Add([]byte(" v1.0\n"))
	f.Add([]byte(`{"x":{"ver":7}}`))
	f.Add([]byte("v1\x1b[2J"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseVersion(b)
		if v.Raw != string(b) {
			t.Fatalf("Raw %q, reply %q", v.Raw, b)
		}
		if err != nil {
			if v.Key != "" || v.Ver != "" || v.Cap != nil || v.SecVer != -1 || v.SecPatchVer != -1 {
				t.Fatalf("error %v with a parsed version %+v", err, v)
			}
			return
		}
		if v.Key == "" && v.Cap == nil && v.SecVer == -1 && v.SecPatchVer == -1 {
			if !utf8.ValidString(v.Ver) || strings.ContainsFunc(v.Ver, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("plain-text version %q is not a printable line", v.Ver)
			}
		}
		_ = v.HasCap(CapChalResp)
	})
}
