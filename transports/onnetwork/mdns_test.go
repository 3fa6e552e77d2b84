package onnetwork_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/netnstest"
	simonnetwork "github.com/espprov/espprov/internal/sim/onnetwork"
	"github.com/espprov/espprov/transports"
	"github.com/espprov/espprov/transports/onnetwork"
)

func startSim(t *testing.T, opts simonnetwork.Options) *simonnetwork.Service {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := simonnetwork.Start(ctx, simonnetwork.NewScripted(), opts)
	if err != nil {
		t.Fatalf("start %s: %v", opts.NodeID, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func has(ips []net.IP, want string) bool {
	for _, ip := range ips {
		if ip.String() == want {
			return true
		}
	}
	return false
}

// TestDiscoverInNamespace announces devices of both variants with real
// multicast DNS inside a private namespace and browses for them.
func TestDiscoverInNamespace(t *testing.T) {
	t.Parallel()
	if !netnstest.Run(t) {
		return
	}
	netnstest.CheckGoroutines(t)
	startSim(t, simonnetwork.Options{Variant: simonnetwork.Standalone, NodeID: "NODE1", Security: 1, PoP: []byte("abcd1234")})
	startSim(t, simonnetwork.Options{Variant: simonnetwork.LocalControl, NodeID: "NODE2", Instance: "kitchen", Security: 2})
	startSim(t, simonnetwork.Options{Variant: simonnetwork.Standalone, NodeID: "NODE3", Security: 0, ListenAddr: ":81"})
	// A second announcement of NODE1 under another instance name: discovery
	// must de-duplicate it by node id.
	startSim(t, simonnetwork.Options{Variant: simonnetwork.Standalone, NodeID: "NODE1", Instance: "zz-dup", Security: 1, ListenAddr: ":82"})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	found, err := onnetwork.Discover(ctx, onnetwork.DiscoverOptions{Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 3*time.Second || el > 5*time.Second {
		t.Errorf("Discover took %s, want the 3 s browse time", el)
	}
	type row struct {
		Instance, NodeID, Host string
		Port, Sec              int
		PoP                    bool
	}
	want := []row{
		{"kitchen", "NODE2", "NODE2", 8080, 2, false},
		{"NODE1", "NODE1", "NODE1", 80, 1, true},
		{"NODE3", "NODE3", "NODE3", 81, 0, false},
	}
	var got []row
	for _, f := range found {
		got = append(got, row{f.Instance, f.NodeID, f.Host, f.Port, f.SecVersion, f.PoPRequired})
		if !has(f.IPs, "127.0.0.1") || f.IPs[0].To4() == nil {
			t.Errorf("%s: IPs %v, want 127.0.0.1 first", f.Instance, f.IPs)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("found %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("device %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	// TXT records exactly as the firmware variants publish them.
	wantTXT := map[string]string{
		"NODE1": "node_id=NODE1 pop_required=true port=80 sec_version=1",
		"NODE2": "node_id=NODE2 pop_required=false port=8080 sec_version=2",
		"NODE3": "node_id=NODE3 port=81 sec_version=0",
	}
	for _, f := range found {
		if g := txtString(f.TXT); g != wantTXT[f.NodeID] {
			t.Errorf("%s TXT = %q, want %q", f.NodeID, g, wantTXT[f.NodeID])
		}
	}

	// The Local Control variant is also announced as _esp_local_ctrl._tcp.
	lc, err := onnetwork.Discover(ctx, onnetwork.DiscoverOptions{Timeout: 2 * time.Second, ServiceType: "_esp_local_ctrl._tcp"})
	if err != nil {
		t.Fatal(err)
	}
	if len(lc) != 1 || lc[0].Instance != "NODE2" || lc[0].Port != 8080 || lc[0].NodeID != "NODE2" {
		t.Fatalf("_esp_local_ctrl._tcp: %+v", lc)
	}
}

func txtString(m map[string]string) string {
	var parts []string
	for _, k := range []string{"node_id", "pop_required", "port", "sec_version"} {
		if v, ok := m[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	if len(parts) != len(m) {
		return "unexpected keys in " + strings.Join(parts, " ")
	}
	return strings.Join(parts, " ")
}

// TestResolveInNamespace resolves devices by name, node id and
// <node_id>.local through mDNS.
func TestResolveInNamespace(t *testing.T) {
	t.Parallel()
	if !netnstest.Run(t) {
		return
	}
	netnstest.CheckGoroutines(t)
	startSim(t, simonnetwork.Options{Variant: simonnetwork.Standalone, NodeID: "NODEA", Security: 1})
	startSim(t, simonnetwork.Options{Variant: simonnetwork.LocalControl, NodeID: "NODEB", Instance: "Living Room", Security: 1, PoP: []byte("p")})

	cases := []struct {
		name    string
		target  onnetwork.Target
		want    string
		wantErr error
	}{
		{name: "instance name", target: onnetwork.Target{Name: "living room"}, want: "127.0.0.1:8080"},
		{name: "node id", target: onnetwork.Target{Name: "nodeb"}, want: "127.0.0.1:8080"},
		{name: "node id port override", target: onnetwork.Target{Name: "NODEA", Port: 8081}, want: "127.0.0.1:8081"},
		{name: "host .local", target: onnetwork.Target{Host: "NODEA.local"}, want: "127.0.0.1:80"},
		{name: "host .local trailing dot", target: onnetwork.Target{Host: "nodeb.local."}, want: "127.0.0.1:8080"},
		{name: "host .local explicit port", target: onnetwork.Target{Host: "nodea.local", Port: 80}, want: "127.0.0.1:80"},
		{name: "unknown name", target: onnetwork.Target{Name: "nobody", DiscoveryTimeout: time.Second}, wantErr: transports.ErrUnreachable},
		{name: "unknown host", target: onnetwork.Target{Host: "nobody.local", DiscoveryTimeout: time.Second}, wantErr: transports.ErrUnreachable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if c.target.DiscoveryTimeout == 0 {
				c.target.DiscoveryTimeout = 3 * time.Second
			}
			start := time.Now()
			got, err := onnetwork.Resolve(ctx, c.target)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("Resolve = %q, want %q", got, c.want)
			}
			// A match ends the browse early.
			if el := time.Since(start); el >= 3*time.Second {
				t.Errorf("Resolve took %s: browse did not stop at the first match", el)
			}
		})
	}

	// ResolveFound returns the TXT-derived data for the session layer.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, f, ok, err := onnetwork.ResolveFound(ctx, onnetwork.Target{Name: "Living Room", DiscoveryTimeout: 3 * time.Second})
	if err != nil || !ok || f.SecVersion != 1 || !f.PoPRequired {
		t.Fatalf("ResolveFound = %+v ok=%v err=%v", f, ok, err)
	}
	_, _, ok, err = onnetwork.ResolveFound(ctx, onnetwork.Target{IP: "127.0.0.1"})
	if err != nil || ok {
		t.Fatalf("ResolveFound(IP) ok=%v err=%v, want no discovery data", ok, err)
	}
}

// TestDiscoverCancelled: a cancelled context ends the browse early.
func TestDiscoverCancelled(t *testing.T) {
	t.Parallel()
	if !netnstest.Run(t) {
		return
	}
	netnstest.CheckGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := onnetwork.Discover(ctx, onnetwork.DiscoverOptions{Timeout: 5 * time.Second})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("cancelled Discover took %s", el)
	}
}
