package simonnetwork_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/netnstest"
	"github.com/espprov/espprov/internal/sim/device"
	simonnetwork "github.com/espprov/espprov/internal/sim/onnetwork"
	"github.com/espprov/espprov/transports"
	"github.com/espprov/espprov/transports/httpd"
	"github.com/espprov/espprov/transports/onnetwork"
)

func start(t *testing.T, p device.Protocomm, o simonnetwork.Options) *simonnetwork.Service {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := simonnetwork.Start(ctx, p, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func dial(t *testing.T, s *simonnetwork.Service) *httpd.Transport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := httpd.Dial(ctx, s.Addr().String(), httpd.Options{ExchangeTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestTXT(t *testing.T) {
	pop := func(s string) []byte { return []byte(s) }
	cases := []struct {
		name    string
		variant simonnetwork.Variant
		sec     int
		pop     []byte
		wantPoP string // "" = key absent
	}{
		{"standalone sec0", simonnetwork.Standalone, 0, nil, ""},
		{"standalone sec1 no pop", simonnetwork.Standalone, 1, nil, "false"},
		{"standalone sec1 empty pop configured", simonnetwork.Standalone, 1, pop(""), "true"},
		{"standalone sec1 pop", simonnetwork.Standalone, 1, pop("abcd1234"), "true"},
		{"standalone sec2", simonnetwork.Standalone, 2, pop("abcd1234"), ""},
		{"local sec0", simonnetwork.LocalControl, 0, nil, "false"},
		{"local sec1 no pop", simonnetwork.LocalControl, 1, nil, "false"},
		{"local sec1 empty pop", simonnetwork.LocalControl, 1, pop(""), "false"},
		{"local sec1 pop", simonnetwork.LocalControl, 1, pop("abcd1234"), "true"},
		{"local sec2", simonnetwork.LocalControl, 2, pop("abcd1234"), "false"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := start(t, simonnetwork.NewScripted(), simonnetwork.Options{Variant: c.variant, NodeID: "N1",
				Security: c.sec, PoP: c.pop, NoMDNS: true, ListenAddr: "127.0.0.1:0"})
			txt := s.TXT()
			want := map[string]string{"node_id": "N1", "port": strconv.Itoa(s.Port()), "sec_version": strconv.Itoa(c.sec)}
			if c.wantPoP != "" {
				want["pop_required"] = c.wantPoP
			}
			if len(txt) != len(want) {
				t.Fatalf("TXT = %v, want %v", txt, want)
			}
			for k, v := range want {
				if txt[k] != v {
					t.Fatalf("TXT = %v, want %v", txt, want)
				}
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	p := simonnetwork.NewScripted()
	cases := []struct {
		name string
		o    simonnetwork.Options
	}{
		{"no node id", simonnetwork.Options{NoMDNS: true, ListenAddr: "127.0.0.1:0"}},
		{"bad security", simonnetwork.Options{NodeID: "N", Security: 3, NoMDNS: true, ListenAddr: "127.0.0.1:0"}},
		{"bad variant", simonnetwork.Options{NodeID: "N", Variant: 7, NoMDNS: true, ListenAddr: "127.0.0.1:0"}},
		{"bad address", simonnetwork.Options{NodeID: "N", NoMDNS: true, ListenAddr: "127.0.0.1:99999"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if s, err := simonnetwork.Start(context.Background(), p, c.o); err == nil {
				s.Close()
				t.Fatal("Start succeeded")
			}
		})
	}
	if _, err := simonnetwork.Start(context.Background(), nil, simonnetwork.Options{NodeID: "N"}); err == nil {
		t.Fatal("Start(nil device) succeeded")
	}
}

// TestPaths drives the HTTP endpoints with the protocomm_httpd client and
// checks what reaches the device.
func TestPaths(t *testing.T) {
	netnstest.CheckGoroutines(t)
	echo := func(tag string) func(string, []byte) ([]byte, error) {
		return func(_ string, req []byte) ([]byte, error) { return append([]byte(tag+":"), req...), nil }
	}
	type ex struct {
		path     string
		wantResp string
		wantErr  error
		wantEP   string // device endpoint reached ("" = none)
	}
	cases := []struct {
		name    string
		variant simonnetwork.Variant
		sec     int
		eps     []string
		script  []ex
	}{
		{
			name: "standalone", variant: simonnetwork.Standalone, sec: 1,
			eps: []string{"prov-session", "prov-config", "proto-ver", "ch_resp", "esp_local_ctrl/control"},
			script: []ex{
				{path: "esp_local_ctrl/version", wantResp: `{"on_network":{"ver":"v1.0","cap":["ch_resp"]}}`},
				{path: "esp_local_ctrl/session", wantResp: "prov-session:x", wantEP: "prov-session"},
				{path: "ch_resp", wantResp: "ch_resp:x", wantEP: "ch_resp"},
				{path: "prov-session", wantErr: transports.ErrNoEndpoint},
				{path: "prov-config", wantErr: transports.ErrNoEndpoint},
				{path: "proto-ver", wantErr: transports.ErrNoEndpoint},
				{path: "esp_local_ctrl/control", wantErr: transports.ErrNoEndpoint},
				{path: "esp_local_ctrl/ch_resp", wantErr: transports.ErrNoEndpoint},
			},
		},
		{
			name: "local control", variant: simonnetwork.LocalControl, sec: 2,
			eps: []string{"esp_local_ctrl/session", "esp_local_ctrl/control", "ch_resp", "prov-session"},
			script: []ex{
				{path: "esp_local_ctrl/version", wantResp: `{"local_ctrl":{"ver":"v1.0","sec_ver":2,"sec_patch_ver":0}}`},
				{path: "esp_local_ctrl/session", wantResp: "esp_local_ctrl/session:x", wantEP: "esp_local_ctrl/session"},
				{path: "esp_local_ctrl/control", wantResp: "esp_local_ctrl/control:x", wantEP: "esp_local_ctrl/control"},
				{path: "ch_resp", wantResp: "ch_resp:x", wantEP: "ch_resp"},
				{path: "prov-session", wantErr: transports.ErrNoEndpoint},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := simonnetwork.NewScripted()
			for _, ep := range c.eps {
				p.Register(ep, echo(ep))
			}
			s := start(t, p, simonnetwork.Options{Variant: c.variant, NodeID: "N1", Security: c.sec, NoMDNS: true, ListenAddr: "127.0.0.1:0"})
			for _, e := range c.script {
				h := dial(t, s)
				before := len(p.Calls())
				resp, err := h.Exchange(context.Background(), e.path, []byte("x"))
				if e.wantErr != nil {
					if !errors.Is(err, e.wantErr) {
						t.Fatalf("%s: err = %v, want %v", e.path, err, e.wantErr)
					}
				} else if err != nil || string(resp) != e.wantResp {
					t.Fatalf("%s: %q, %v; want %q", e.path, resp, err, e.wantResp)
				}
				calls := p.Calls()[before:]
				switch {
				case e.wantEP == "" && len(calls) != 0:
					t.Fatalf("%s reached the device: %+v", e.path, calls)
				case e.wantEP != "" && (len(calls) != 1 || calls[0].Endpoint != e.wantEP || calls[0].Session == ""):
					t.Fatalf("%s: device calls %+v, want one on %s with a session id", e.path, calls, e.wantEP)
				}
			}
		})
	}
}

// TestDisableStopsStandalone: after ch_resp flips the device's disabled
// flag, the standalone service keeps answering for 2 s (the client reads the
// reply) and then stops; the Local Control variant keeps serving.
func TestDisableStops(t *testing.T) {
	netnstest.CheckGoroutines(t)
	for _, variant := range []simonnetwork.Variant{simonnetwork.Standalone, simonnetwork.LocalControl} {
		t.Run(variant.String(), func(t *testing.T) {
			t.Parallel()
			var disabled atomic.Bool
			p := simonnetwork.NewScripted()
			p.Register("prov-session", func(string, []byte) ([]byte, error) { return []byte("ok"), nil })
			p.Register("ch_resp", func(_ string, req []byte) ([]byte, error) {
				if string(req) == "disable" {
					if disabled.Swap(true) {
						return []byte("already disabled"), nil
					}
					return []byte("disabled"), nil
				}
				return []byte("signed"), nil
			})
			s := start(t, p, simonnetwork.Options{Variant: variant, NodeID: "N1", Security: 1, NoMDNS: true,
				ListenAddr: "127.0.0.1:0", ChalRespDisabled: disabled.Load})
			h := dial(t, s)
			ctx := context.Background()
			if r, err := h.Exchange(ctx, "ch_resp", []byte("challenge")); err != nil || string(r) != "signed" {
				t.Fatalf("challenge: %q %v", r, err)
			}
			t0 := time.Now()
			if r, err := h.Exchange(ctx, "ch_resp", []byte("disable")); err != nil || string(r) != "disabled" {
				t.Fatalf("disable: %q %v", r, err)
			}
			// Still serving right after the disable reply.
			if r, err := h.Exchange(ctx, "ch_resp", []byte("disable")); err != nil || string(r) != "already disabled" {
				t.Fatalf("second disable: %q %v", r, err)
			}
			select {
			case <-s.Done():
				if variant == simonnetwork.LocalControl {
					t.Fatal("Local Control service stopped after a disable")
				}
				if el := time.Since(t0); el < simonnetwork.DefaultStopDelay-100*time.Millisecond {
					t.Fatalf("standalone stopped %s after the disable, want %s", el, simonnetwork.DefaultStopDelay)
				}
			case <-time.After(simonnetwork.DefaultStopDelay + time.Second):
				if variant == simonnetwork.Standalone {
					t.Fatal("standalone service still running 3 s after a disable")
				}
			}
			_, err := h.Exchange(ctx, "esp_local_ctrl/version", []byte("---"))
			if variant == simonnetwork.Standalone && !errors.Is(err, transports.ErrUnreachable) && !errors.Is(err, transports.ErrClosed) {
				t.Fatalf("after stop: err = %v, want unreachable/closed", err)
			}
			if variant == simonnetwork.LocalControl && err != nil {
				t.Fatalf("Local Control after disable: %v", err)
			}
		})
	}
}

// TestAnnouncementLifecycle runs the dnssd responder in a private namespace:
// a disable withdraws the challenge-response announcement (both variants),
// Local Control keeps _esp_local_ctrl._tcp, and Enable re-announces.
func TestAnnouncementLifecycle(t *testing.T) {
	t.Parallel()
	if !netnstest.Run(t) {
		return
	}
	netnstest.CheckGoroutines(t)
	sa := start(t, simonnetwork.NewScripted(), simonnetwork.Options{Variant: simonnetwork.Standalone, NodeID: "SA", Security: 1})
	lc := start(t, simonnetwork.NewScripted(), simonnetwork.Options{Variant: simonnetwork.LocalControl, NodeID: "LC", Security: 1, PoP: []byte("pop")})
	if sa.Port() != 80 || lc.Port() != 8080 {
		t.Fatalf("ports %d/%d, want firmware defaults 80/8080", sa.Port(), lc.Port())
	}

	nodes := func(serviceType string, timeout time.Duration) map[string]int {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		found, err := onnetwork.Discover(ctx, onnetwork.DiscoverOptions{Timeout: timeout, ServiceType: serviceType})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, f := range found {
			out[f.Instance] = f.Port
		}
		return out
	}
	if got := nodes(simonnetwork.ServiceType, 2500*time.Millisecond); len(got) != 2 || got["SA"] != 80 || got["LC"] != 8080 {
		t.Fatalf("before disable: %v", got)
	}

	sa.Disable()
	lc.Disable()
	if sa.Announced() || lc.Announced() {
		t.Fatal("still announced right after Disable")
	}
	if got := nodes(simonnetwork.ServiceType, 1500*time.Millisecond); len(got) != 0 {
		t.Fatalf("after disable: %v still announced", got)
	}
	if got := nodes(simonnetwork.LocalCtrlServiceType, 1500*time.Millisecond); len(got) != 1 || got["LC"] != 8080 {
		t.Fatalf("_esp_local_ctrl._tcp after disable: %v", got)
	}
	select {
	case <-sa.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("standalone service did not stop after the disable")
	}

	if err := lc.Enable(); err != nil {
		t.Fatal(err)
	}
	if err := sa.Enable(); err != nil { // stopped: no effect
		t.Fatal(err)
	}
	if got := nodes(simonnetwork.ServiceType, 2500*time.Millisecond); len(got) != 1 || got["LC"] != 8080 {
		t.Fatalf("after enable: %v, want only LC", got)
	}
	lc.StopAnnouncement()
	if lc.Announced() {
		t.Fatal("Announced after StopAnnouncement")
	}
}

func TestOptionsStringHidesPoP(t *testing.T) {
	o := simonnetwork.Options{NodeID: "N1", Security: 1, PoP: []byte("s3cr3t-pop")}
	for _, s := range []string{o.String(), fmt.Sprint(o), fmt.Sprintf("%v", o)} {
		if strings.Contains(s, "s3cr3t") || !strings.Contains(s, "N1") {
			t.Fatalf("Options rendered as %q", s)
		}
	}
}
