package onnetwork

import (
	"net"
	"testing"

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
