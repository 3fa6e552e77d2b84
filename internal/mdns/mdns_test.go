package mdns_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/mdns"
	"github.com/espprov/espprov/internal/netnstest"
	"github.com/espprov/espprov/internal/sim/device"
	simonnetwork "github.com/espprov/espprov/internal/sim/onnetwork"
	"github.com/espprov/espprov/transports"
	"github.com/espprov/espprov/transports/onnetwork"
)

func TestIsLocal(t *testing.T) {
	for in, want := range map[string]bool{
		"abc.local": true, "ABC.LOCAL.": true, "a.b.local": true,
		"local": false, ".local": false, "example.com": false, "abc.localhost": false, "127.0.0.1": false,
	} {
		if got := mdns.IsLocal(in); got != want {
			t.Errorf("IsLocal(%q) = %v", in, got)
		}
	}
}

// addLink gives the namespace a second interface with an IPv4 address and a
// fixed IPv6 link-local address.
func addLink(t *testing.T) {
	t.Helper()
	netnstest.AddLink(t, "dum0", "10.77.0.1/24", "fe80::77/64")
}

func simDevice(t *testing.T) *device.Device {
	t.Helper()
	d, err := device.New(device.Config{SecVer: 1})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func startSim(t *testing.T, node, listen string) *simonnetwork.Service {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := simonnetwork.Start(ctx, simDevice(t), simonnetwork.Options{NodeID: node, ListenAddr: listen, Security: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func lookup(t *testing.T, name string) []netip.Addr {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, err := mdns.LookupHost(ctx, name, mdns.Options{Timeout: 8 * time.Second})
	if err != nil {
		t.Fatalf("LookupHost(%q): %v", name, err)
	}
	return addrs
}

// Against our simulator (a brutella/dnssd responder): a device listening on
// one address announces that address only (item 2); one listening on every
// address announces each interface's own, IPv6 link-local with its zone.
func TestLookupSimulator(t *testing.T) {
	if !netnstest.Run(t) {
		return
	}
	addLink(t)
	startSim(t, "NODEONE", "127.0.0.1:0")
	if got := lookup(t, "nodeone.local"); !slices.Equal(got, []netip.Addr{netip.MustParseAddr("127.0.0.1")}) {
		t.Errorf("specific listen: %v, want only 127.0.0.1 (the listening address)", got)
	}
	startSim(t, "NODETWO", ":0")
	got := lookup(t, "NodeTwo.local.")
	for _, want := range []string{"10.77.0.1", "fe80::77%dum0"} {
		if !slices.Contains(got, netip.MustParseAddr(want)) {
			t.Errorf("wildcard listen: %v lacks %s", got, want)
		}
	}
	if !got[0].Is4() {
		t.Errorf("IPv4 not first: %v", got)
	}
}

// Against Debian's avahi-daemon (a responder that is not ours): its host
// name resolves, and the service it announces is found by the browse.
func TestLookupAvahi(t *testing.T) {
	if !netnstest.Run(t) {
		return
	}
	netnstest.StartAvahi(t, netnstest.AvahiConfig{HostName: "espavahi", Services: []netnstest.AvahiService{
		{Name: "AVAHINODE", Type: onnetwork.ServiceType, Port: 8080, TXT: []string{"node_id=AVAHINODE", "sec_version=1", "pop_required=false"}}}})
	got := lookup(t, "espavahi.local")
	if !slices.Contains(got, netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("espavahi.local = %v, want 127.0.0.1 among them", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := onnetwork.FindByName(ctx, "AVAHINODE", onnetwork.DiscoverOptions{Timeout: 8 * time.Second})
	if err != nil || f.Port != 8080 || f.SecVersion != 1 {
		t.Fatalf("browse for avahi's service: %+v %v", f, err)
	}
}

// A name nobody answers: the error names it, the interfaces asked, and the
// time waited, and classifies as unreachable.
func TestLookupNotFound(t *testing.T) {
	if !netnstest.Run(t) {
		return
	}
	ctx := context.Background()
	start := time.Now()
	_, err := mdns.LookupHost(ctx, "nobody-here.local", mdns.Options{Timeout: 300 * time.Millisecond})
	if el := time.Since(start); el < 300*time.Millisecond || el > 5*time.Second {
		t.Errorf("gave up after %v, want about 300ms", el)
	}
	var nf *mdns.NotFoundError
	if !errors.As(err, &nf) || !errors.Is(err, transports.ErrUnreachable) {
		t.Fatalf("err = %v (%T)", err, err)
	}
	for _, want := range []string{`"nobody-here.local"`, "interfaces lo", "after 3"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}
