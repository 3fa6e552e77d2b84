package onnetwork

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/espprov/espprov/transports"
)

func TestParseVersion(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    VersionInfo
		wantErr string
	}{
		{
			name: "standalone",
			in:   `{"on_network":{"ver":"v1.0","cap":["ch_resp"]}}`,
			want: VersionInfo{Key: "on_network", Ver: "v1.0", Cap: []string{"ch_resp"}, SecVer: -1, SecPatchVer: -1},
		},
		{
			name: "local control current IDF",
			in:   `{"local_ctrl":{"ver":"v1.0","sec_ver":2,"sec_patch_ver":1}}`,
			want: VersionInfo{Key: "local_ctrl", Ver: "v1.0", SecVer: 2, SecPatchVer: 1},
		},
		{
			name: "local control plain text",
			in:   "v1.0",
			want: VersionInfo{Ver: "v1.0", SecVer: -1, SecPatchVer: -1},
		},
		{
			name: "unknown single key",
			in:   `{"other":{"ver":"v2"}}`,
			want: VersionInfo{Key: "other", Ver: "v2", SecVer: -1, SecPatchVer: -1},
		},
		{name: "empty", in: "  ", wantErr: "empty"},
		{name: "bad json", in: `{"on_network":`, wantErr: "version reply"},
		{name: "two unknown keys", in: `{"a":{},"b":{}}`, wantErr: "no \"on_network\""},
		{name: "inner not object", in: `{"on_network":"x"}`, wantErr: "on_network"},
		{name: "binary", in: "\x00\x01", wantErr: "neither JSON nor text"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseVersion([]byte(c.in))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.want.Raw = c.in
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
	v, _ := ParseVersion([]byte(`{"on_network":{"ver":"v1.0","cap":["ch_resp"]}}`))
	if !v.HasCap(CapChalResp) || v.HasCap("local_ctrl") {
		t.Fatalf("HasCap wrong for %+v", v)
	}
}

func TestResolveLiterals(t *testing.T) {
	cases := []struct {
		name    string
		target  Target
		want    string
		wantErr string
	}{
		{name: "ipv4 default port", target: Target{IP: "10.1.2.3"}, want: "10.1.2.3:80"},
		{name: "ipv4 port 8080", target: Target{IP: "10.1.2.3", Port: 8080}, want: "10.1.2.3:8080"},
		{name: "ipv6", target: Target{IP: "fd00::1"}, want: "[fd00::1]:80"},
		{name: "ipv6 bracketed input", target: Target{IP: "[fd00::1]", Port: 8080}, want: "[fd00::1]:8080"},
		{name: "ipv6 zone", target: Target{IP: "fe80::1%eth0"}, want: "[fe80::1%eth0]:80"},
		{name: "ipv4-mapped", target: Target{IP: "::ffff:10.0.0.1"}, want: "10.0.0.1:80"},
		{name: "host ipv4 literal", target: Target{Host: "127.0.0.1", Port: 81}, want: "127.0.0.1:81"},
		{name: "host ipv6 literal", target: Target{Host: "::1"}, want: "[::1]:80"},
		{name: "ip wins over host", target: Target{IP: "10.0.0.2", Host: "example.invalid"}, want: "10.0.0.2:80"},
		{name: "invalid ip", target: Target{IP: "300.1.1.1"}, wantErr: `invalid IP address "300.1.1.1"`},
		{name: "hostname as ip", target: Target{IP: "abc.local"}, wantErr: `invalid IP address "abc.local"`},
		{name: "bad port", target: Target{IP: "10.0.0.1", Port: 70000}, wantErr: "invalid port"},
		{name: "nothing", target: Target{}, wantErr: "no device"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Resolve(context.Background(), c.target)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("Resolve = %q, want %q", got, c.want)
			}
		})
	}
}

// TestResolveSystemResolver: names not ending in .local go to the system
// resolver; "localhost" resolves from /etc/hosts without network traffic.
func TestResolveSystemResolver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := Resolve(ctx, Target{Host: "localhost", Port: 8080})
	if err != nil {
		t.Fatal(err)
	}
	if got != "127.0.0.1:8080" && got != "[::1]:8080" {
		t.Fatalf("Resolve(localhost) = %q", got)
	}
	_, err = Resolve(ctx, Target{Host: "no-such-host.invalid"})
	if !errors.Is(err, transports.ErrUnreachable) || !strings.Contains(err.Error(), "no-such-host.invalid") {
		t.Fatalf("unresolvable host: err = %v", err)
	}
}

func TestCollect(t *testing.T) {
	ip := func(s string) net.IP { return net.ParseIP(s) }
	mk := func(name, iface string, port int, ips []net.IP, txt map[string]string) entry {
		return entry{Name: name, Iface: iface, Port: port, IPs: ips, Host: name, Text: txt}
	}
	es := []entry{
		mk("zeta", "eth0", 80, []net.IP{ip("fe80::1"), ip("192.168.1.20")},
			map[string]string{"node_id": "N2", "port": "80", "sec_version": "1", "pop_required": "TRUE"}),
		mk("alpha", "eth0", 8080, []net.IP{ip("192.168.1.10")},
			map[string]string{"node_id": "N1", "port": "8080", "sec_version": "2", "pop_required": "false"}),
		// Same node seen on a second interface and as a renamed duplicate.
		mk("zeta", "wlan0", 80, []net.IP{ip("10.0.0.20")}, map[string]string{"node_id": "N2"}),
		mk("zeta (2)", "eth0", 80, []net.IP{ip("192.168.1.20")}, map[string]string{"node_id": "N2"}),
		// No TXT at all: unknown security, port from SRV.
		mk("bare", "eth0", 81, []net.IP{ip("192.168.1.30")}, nil),
		// SRV port missing: TXT port used; bad sec_version.
		mk("txtport", "eth0", 0, []net.IP{ip("192.168.1.40")},
			map[string]string{"node_id": "N4", "port": "8080", "sec_version": "x"}),
	}
	got := collect(es)
	type row struct {
		Instance, NodeID string
		IPs              string
		Port, Sec        int
		PoP              bool
		Col, Addr        string
	}
	var rows []row
	for _, f := range got {
		var ips []string
		for _, i := range f.IPs {
			ips = append(ips, i.String())
		}
		rows = append(rows, row{f.Instance, f.NodeID, strings.Join(ips, ","), f.Port, f.SecVersion, f.PoPRequired, f.PoPColumn(), f.Addr()})
	}
	want := []row{
		{"alpha", "N1", "192.168.1.10", 8080, 2, false, "SRP6a", "192.168.1.10:8080"},
		{"bare", "", "192.168.1.30", 81, -1, false, "No", "192.168.1.30:81"},
		{"txtport", "N4", "192.168.1.40", 8080, -1, false, "No", "192.168.1.40:8080"},
		{"zeta", "N2", "192.168.1.20,10.0.0.20,fe80::1", 80, 1, true, "Yes", "192.168.1.20:80"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("collect:\n got %+v\nwant %+v", rows, want)
	}

	v6 := Found{IPs: []net.IP{ip("fe80::2")}, Iface: "eth1", Port: 80}
	if a := v6.Addr(); a != "[fe80::2%eth1]:80" {
		t.Fatalf("link-local Addr = %q", a)
	}
	if a := (Found{Port: 80}).Addr(); a != "" {
		t.Fatalf("no-IP Addr = %q", a)
	}
}

func TestFormatTable(t *testing.T) {
	found := []Found{
		{Instance: "MyDevice", NodeID: "XeRQn9TDhQDTfhrGgcLesA", IPs: []net.IP{net.ParseIP("192.168.1.100")}, Port: 80, SecVersion: 1, PoPRequired: true},
		{Instance: "A very long instance name", NodeID: "ABCDEFGHIJKLMNOPQRSTUVWXYZ", IPs: []net.IP{net.ParseIP("fd00::1"), net.ParseIP("192.168.1.101")}, Port: 8080, SecVersion: 2},
		{Instance: "bare", Port: 81, SecVersion: -1},
		{Instance: "open", NodeID: "N0", Port: 80, SecVersion: 0},
	}
	rule := strings.Repeat("-", 120)
	want := "\nDiscovered 4 device(s):\n" + rule + "\n" +
		"#   Instance Name        Node ID                   IP Address       Port   Sec  PoP      Service     \n" + rule + "\n" +
		"1   MyDevice             XeRQn9TDhQDTfhrGgcLesA    192.168.1.100    80     1    Yes      ChalResp    \n" +
		"2   A very long inst...  ABCDEFGHIJKLMNOPQRSTU...  192.168.1.101    8080   2    SRP6a    ChalResp    \n" +
		"3   bare                                                            81     1    No       ChalResp    \n" +
		"4   open                 N0                                         80     0    N/A      ChalResp    \n" +
		rule + "\n"
	if got := FormatTable(found); got != want {
		t.Fatalf("FormatTable:\n%s\nwant:\n%s", got, want)
	}
}
