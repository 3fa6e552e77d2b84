package onnetwork_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/netnstest"
	"github.com/espprov/espprov/internal/protocomm"
	"github.com/espprov/espprov/internal/sim/device"
	simonnetwork "github.com/espprov/espprov/internal/sim/onnetwork"
	"github.com/espprov/espprov/security"
	"github.com/espprov/espprov/security/sec0"
	"github.com/espprov/espprov/security/sec1"
	"github.com/espprov/espprov/security/sec2"
	"github.com/espprov/espprov/transports"
	"github.com/espprov/espprov/transports/onnetwork"
)

func TestEndpointPath(t *testing.T) {
	cases := map[string]string{
		"prov-session":           "/esp_local_ctrl/session",
		"proto-ver":              "/esp_local_ctrl/version",
		"esp_local_ctrl/session": "/esp_local_ctrl/session",
		"esp_local_ctrl/version": "/esp_local_ctrl/version",
		"ch_resp":                "/ch_resp",
		"esp_local_ctrl/control": "/esp_local_ctrl/control",
		"/ch_resp":               "/ch_resp",
	}
	for in, want := range cases {
		if got := onnetwork.EndpointPath(in); got != want {
			t.Errorf("EndpointPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPathsOnTheWire checks the request lines a plain HTTP server receives.
func TestPathsOnTheWire(t *testing.T) {
	netnstest.CheckGoroutines(t)
	var (
		mu   sync.Mutex
		seen []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		mu.Unlock()
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tr, err := onnetwork.Open(ctx, strings.TrimPrefix(srv.URL, "http://"), onnetwork.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	eps := []string{"prov-session", "proto-ver", onnetwork.EndpointSession, onnetwork.EndpointVersion, onnetwork.EndpointChalResp, onnetwork.EndpointControl}
	for _, ep := range eps {
		if r, err := tr.Exchange(ctx, ep, []byte{1}); err != nil || string(r) != "ok" {
			t.Fatalf("%s: %q %v", ep, r, err)
		}
	}
	ct := " application/x-www-form-urlencoded"
	want := []string{"POST /esp_local_ctrl/session" + ct, "POST /esp_local_ctrl/version" + ct, "POST /esp_local_ctrl/session" + ct,
		"POST /esp_local_ctrl/version" + ct, "POST /ch_resp" + ct, "POST /esp_local_ctrl/control" + ct}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Fatalf("request lines:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
	if tr.MaxMessage() != 4096 {
		t.Fatalf("MaxMessage = %d", tr.MaxMessage())
	}
	var _ transports.Limits = tr
}

func TestOpenUnreachable(t *testing.T) {
	// A port nobody listens on (bound then closed).
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := onnetwork.Open(ctx, addr, onnetwork.Options{}); !errors.Is(err, transports.ErrUnreachable) {
		t.Fatalf("Open(%s) err = %v, want ErrUnreachable", addr, err)
	}
}

// simDevice is a simulated device with a scripted ch_resp (signing belongs
// to the RainMaker simulator) behind the on-network service.
type simDevice struct {
	dev      *device.Device
	svc      *simonnetwork.Service
	disabled atomic.Bool
}

func newSimDevice(t *testing.T, cfg device.Config, o simonnetwork.Options) *simDevice {
	t.Helper()
	cfg.NodeID = o.NodeID
	cfg.NoAutoStop = true
	d, err := device.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sd := &simDevice{dev: d}
	if err := d.RegisterEndpoint("ch_resp", func(req []byte) ([]byte, error) {
		if sd.disabled.Load() {
			return []byte("status=disabled"), nil
		}
		if string(req) == "disable" {
			sd.disabled.Store(true)
			return []byte("disabled"), nil
		}
		return append([]byte("signed:"), req...), nil
	}); err != nil {
		t.Fatal(err)
	}
	o.Security = cfg.SecVer
	o.ChalRespDisabled = sd.disabled.Load
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sd.svc, err = simonnetwork.Start(ctx, d, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sd.svc.Close() })
	return sd
}

// TestSessionSecurity runs real Security 0/1/2 sessions (both Security 2
// patch levels: no version field tells them apart on-network, the nonce
// length does) over the on-network transport against a simulated device.
func TestSessionSecurity(t *testing.T) {
	netnstest.CheckGoroutines(t)
	const pop = "abcd1234"
	cases := []struct {
		name      string
		cfg       device.Config
		client    func() security.Handshaker
		wantErr   error
		handshake int
	}{
		{"sec0", device.Config{SecVer: 0}, func() security.Handshaker { return sec0.NewClient() }, nil, 1},
		{"sec1 no pop", device.Config{SecVer: 1}, func() security.Handshaker { return sec1.NewClient(nil) }, nil, 2},
		{"sec1 pop", device.Config{SecVer: 1, PoP: pop}, func() security.Handshaker { return sec1.NewClient([]byte(pop)) }, nil, 2},
		{"sec1 wrong pop", device.Config{SecVer: 1, PoP: pop}, func() security.Handshaker { return sec1.NewClient([]byte("wrong")) }, protocomm.ErrCredentialsRejected, 2},
		{"sec2 patch 1", device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: "wifiprov", SRPPassword: pop},
			func() security.Handshaker { return sec2.NewClient("wifiprov", pop) }, nil, 2},
		{"sec2 patch 0", device.Config{SecVer: 2, SecPatchVer: 0, SRPUsername: "wifiprov", SRPPassword: pop},
			func() security.Handshaker { return sec2.NewClient("wifiprov", pop) }, nil, 2},
		{"sec2 wrong password", device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: "wifiprov", SRPPassword: pop},
			func() security.Handshaker { return sec2.NewClient("wifiprov", "nope") }, protocomm.ErrCredentialsRejected, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sd := newSimDevice(t, c.cfg, simonnetwork.Options{NodeID: "N1", NoMDNS: true, ListenAddr: "127.0.0.1:0"})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			addr, err := onnetwork.Resolve(ctx, onnetwork.Target{IP: "127.0.0.1", Port: sd.svc.Port()})
			if err != nil {
				t.Fatal(err)
			}
			tr, err := onnetwork.Open(ctx, addr, onnetwork.Options{ExchangeTimeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			v, err := tr.Version(ctx)
			if err != nil || v.Key != "on_network" || !v.HasCap("ch_resp") || v.SecPatchVer != -1 {
				t.Fatalf("version %+v, %v", v, err)
			}
			sess, err := protocomm.Establish(ctx, tr, c.client())
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("Establish err = %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Several calls: Security 1 stream and Security 2 counter stay in step.
			for _, ch := range []string{"challenge-1", "challenge-2", "challenge-3"} {
				r, err := sess.Call(ctx, onnetwork.EndpointChalResp, []byte(ch))
				if err != nil || string(r) != "signed:"+ch {
					t.Fatalf("ch_resp %s: %q %v", ch, r, err)
				}
			}
			st := sd.dev.Stats()
			if st.Exchanges["prov-session"] != c.handshake || st.Exchanges["ch_resp"] != 3 || st.HandshakesCompleted != 1 {
				t.Fatalf("device stats %+v", st)
			}
		})
	}
}

// TestEndToEndInNamespace is the flow on real multicast DNS: find
// the device by name, connect by discovered address, IPv6 literal and
// <node_id>.local, run Security 2 (patch 1), ch_resp, disable — after which
// the standalone service withdraws its announcement and stops.
func TestEndToEndInNamespace(t *testing.T) {
	t.Parallel()
	if !netnstest.Run(t) {
		return
	}
	netnstest.CheckGoroutines(t)
	const pop = "abcd1234"
	sd := newSimDevice(t, device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: "wifiprov", SRPPassword: pop},
		simonnetwork.Options{NodeID: "E2ENODE", Instance: "Garage Door", ListenAddr: ":80"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	addr, f, ok, err := onnetwork.ResolveFound(ctx, onnetwork.Target{Name: "garage door", DiscoveryTimeout: 4 * time.Second})
	if err != nil || !ok {
		t.Fatalf("ResolveFound: %v (ok=%v)", err, ok)
	}
	if addr != "127.0.0.1:80" || f.NodeID != "E2ENODE" || f.SecVersion != 2 || f.PoPColumn() != "SRP6a" {
		t.Fatalf("found %s %+v", addr, f)
	}
	for _, target := range []onnetwork.Target{
		{IP: "::1"},
		{Host: "e2enode.local", DiscoveryTimeout: 4 * time.Second},
	} {
		a, err := onnetwork.Resolve(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := onnetwork.Open(ctx, a, onnetwork.Options{})
		if err != nil {
			t.Fatalf("Open(%s): %v", a, err)
		}
		if v, err := tr.Version(ctx); err != nil || !v.HasCap("ch_resp") {
			t.Fatalf("version via %s: %+v %v", a, v, err)
		}
		tr.Close()
	}

	tr, err := onnetwork.Open(ctx, addr, onnetwork.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	sess, err := protocomm.Establish(ctx, tr, sec2.NewClient("wifiprov", pop))
	if err != nil {
		t.Fatal(err)
	}
	if r, err := sess.Call(ctx, onnetwork.EndpointChalResp, []byte("challenge")); err != nil || string(r) != "signed:challenge" {
		t.Fatalf("ch_resp: %q %v", r, err)
	}
	if r, err := sess.Call(ctx, onnetwork.EndpointChalResp, []byte("disable")); err != nil || string(r) != "disabled" {
		t.Fatalf("disable: %q %v", r, err)
	}
	select {
	case <-sd.svc.Done():
	case <-time.After(4 * time.Second):
		t.Fatal("standalone service did not stop after the disable")
	}
	found, err := onnetwork.Discover(ctx, onnetwork.DiscoverOptions{Timeout: 1500 * time.Millisecond})
	if err != nil || len(found) != 0 {
		t.Fatalf("after disable: %+v %v", found, err)
	}
	if _, err := sess.Call(ctx, onnetwork.EndpointChalResp, []byte("again")); !errors.Is(err, transports.ErrUnreachable) && !errors.Is(err, transports.ErrClosed) {
		t.Fatalf("after stop: err = %v", err)
	}
}
