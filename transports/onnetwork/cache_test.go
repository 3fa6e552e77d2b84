package onnetwork

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

func TestBrowseCache(t *testing.T) {
	const svc = "_esp_rmaker_chal_resp._tcp.local."
	hdr := func(name string, typ uint16, ttl uint32) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: typ, Class: dns.ClassINET, Ttl: ttl}
	}
	ptr := func(inst string, ttl uint32) dns.RR {
		return &dns.PTR{Hdr: hdr(svc, dns.TypePTR, ttl), Ptr: inst + "." + svc}
	}
	srv := func(inst, host string, port uint16) dns.RR {
		return &dns.SRV{Hdr: hdr(inst+"."+svc, dns.TypeSRV, 120), Target: host, Port: port}
	}
	txt := func(inst string, kv ...string) dns.RR {
		return &dns.TXT{Hdr: hdr(inst+"."+svc, dns.TypeTXT, 4500), Txt: kv}
	}
	a := func(host, ip string) dns.RR {
		return &dns.A{Hdr: hdr(host, dns.TypeA, 120), A: net.ParseIP(ip)}
	}
	resp := func(answer []dns.RR, extra ...dns.RR) *dns.Msg {
		m := new(dns.Msg)
		m.Response = true
		m.Answer = answer
		m.Extra = extra
		return m
	}

	c := newBrowseCache(svc)
	// A probe (query) of another host carries records in its authority
	// section: no facts.
	probe := new(dns.Msg)
	probe.Question = []dns.Question{{Name: "dev1." + svc, Qtype: dns.TypeANY, Qclass: dns.ClassINET}}
	probe.Ns = []dns.RR{srv("dev1", "dev1.local.", 81), a("dev1.local.", "10.0.0.9")}
	if c.update(probe, "eth0") || len(c.found()) != 0 {
		t.Fatal("probe query was cached")
	}

	// Announcement: PTR answer, SRV/TXT/A additional; escaped instance name;
	// TXT with duplicate key (first wins), upper-case key, value with '='.
	if !c.update(resp([]dns.RR{ptr(`My\ Dev\.1`, 4500)},
		srv(`My\ Dev\.1`, "dev1.local.", 80),
		txt(`My\ Dev\.1`, "node_id=N1", "NODE_ID=other", "sec_version=1", "pop_required=True", "extra=a=b", "flag"),
		a("dev1.local.", "10.0.0.1")), "eth0") {
		t.Fatal("announcement not applied")
	}
	// Records of other types and hosts are ignored.
	c.update(resp([]dns.RR{&dns.PTR{Hdr: hdr("_http._tcp.local.", dns.TypePTR, 4500), Ptr: "x._http._tcp.local."}}), "eth0")
	// Incomplete instance (no address yet) is not reported.
	c.update(resp([]dns.RR{ptr("dev2", 4500)}, srv("dev2", "dev2.local.", 8080), txt("dev2", "node_id=N2")), "eth0")

	got := c.found()
	if len(got) != 1 {
		t.Fatalf("found %+v", got)
	}
	f := got[0]
	if f.Instance != "My Dev.1" || f.Host != "dev1" || f.Port != 80 || f.NodeID != "N1" || f.SecVersion != 1 ||
		!f.PoPRequired || f.TXT["extra"] != "a=b" || f.Addr() != "10.0.0.1:80" || f.Iface != "eth0" {
		t.Fatalf("found %+v", f)
	}

	// dev2's address arrives; both reported, sorted.
	c.update(resp([]dns.RR{a("dev2.local.", "10.0.0.2")}), "eth0")
	if got := c.found(); len(got) != 2 || got[0].Instance != "dev2" || got[0].Addr() != "10.0.0.2:8080" {
		t.Fatalf("found %+v", got)
	}

	// Goodbye (PTR TTL 0) removes dev2; a later announcement brings it back.
	c.update(resp([]dns.RR{ptr("dev2", 0)}), "eth0")
	if got := c.found(); len(got) != 1 || got[0].NodeID != "N1" {
		t.Fatalf("after goodbye %+v", got)
	}
	c.update(resp([]dns.RR{ptr("dev2", 4500)}), "eth0")
	if got := c.found(); len(got) != 2 {
		t.Fatalf("after re-announce %+v", got)
	}
}

func TestUnescapeDNS(t *testing.T) {
	cases := map[string]string{
		`plain`:          "plain",
		`My\ Dev`:        "My Dev",
		`a\.b`:           "a.b",
		`x\032y`:         "x y",
		`back\\slash`:    `back\slash`,
		`trailing\`:      `trailing\`,
		`\999`:           "999",
		`caf\195\169`:    "café",
		`quote\"d`:       `quote"d`,
		`n\0651`:         "nA1",
		`short\12`:       "short12",
		`\(paren\)`:      "(paren)",
		`mixed\.\032end`: "mixed. end",
	}
	for in, want := range cases {
		if got := unescapeDNS(in); got != want {
			t.Errorf("unescapeDNS(%q) = %q, want %q", in, got, want)
		}
	}
}

// An A record with empty RDATA (unpacked as a nil address) does not make an
// instance resolved: found by FuzzBrowseMessages (testdata c0bc2705c5193f5f),
// the device was listed with the address "".
func TestBrowseCacheEmptyAddress(t *testing.T) {
	const svc = "_esp_rmaker_chal_resp._tcp.local."
	hdr := func(name string, typ uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: typ, Class: dns.ClassINET, Ttl: 120}
	}
	m := new(dns.Msg)
	m.Response = true
	m.Answer = []dns.RR{&dns.PTR{Hdr: hdr(svc, dns.TypePTR), Ptr: "NODE1." + svc}}
	m.Extra = []dns.RR{
		&dns.SRV{Hdr: hdr("NODE1."+svc, dns.TypeSRV), Target: "node1.local.", Port: 8080},
		&dns.A{Hdr: hdr("node1.local.", dns.TypeA)},
	}
	raw, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	var got dns.Msg
	if err := got.Unpack(raw); err != nil {
		t.Fatal(err)
	}
	c := newBrowseCache(svc)
	c.update(&got, "lo")
	if f := c.found(); len(f) != 0 {
		t.Fatalf("found %+v from an empty A record", f)
	}
	got.Extra = append(got.Extra, &dns.A{Hdr: hdr("node1.local.", dns.TypeA), A: net.IPv4(10, 0, 0, 7)})
	c.update(&got, "lo")
	if f := c.found(); len(f) != 1 || f[0].Addr() != "10.0.0.7:8080" {
		t.Fatalf("found %+v, want NODE1 at 10.0.0.7:8080", f)
	}
}
