package console

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/protocomm"
	"github.com/espprov/espprov/internal/sim/console"
	"github.com/espprov/espprov/internal/sim/device"
	"github.com/espprov/espprov/internal/wifiprov"
	"github.com/espprov/espprov/internal/wire/devicepb"
	"github.com/espprov/espprov/transports"
)

// Real handshakes, scan and provisioning through go.bug.st/serial on a pty
// against the simulated device behind the simulated firmware console.
func TestEndToEnd(t *testing.T) {
	longSSID := strings.Repeat("S", 32)
	longPass := strings.Repeat("p", 63)
	aps := []device.AP{
		{SSID: "home", Passphrase: "correct horse", RSSI: -40, Channel: 6},
		{SSID: "office", Passphrase: "x-secret-x", RSSI: -70},
		{SSID: "cafe", RSSI: -80},
		{SSID: "garage", Passphrase: "12345678", RSSI: -85},
		{SSID: "neighbour", Passphrase: "abcdefgh", RSSI: -90},
		{SSID: longSSID, Passphrase: longPass, RSSI: -50},
	}
	tests := []struct {
		name       string
		cfg        device.Config
		creds      protocomm.Credentials
		wantScheme protocomm.Scheme
		ssid, pass string
	}{
		{"security 0", device.Config{SecVer: 0}, protocomm.Credentials{}, protocomm.Scheme0, "home", "correct horse"},
		{"security 1 with pop", device.Config{SecVer: 1, PoP: "abcd1234"}, protocomm.Credentials{PoP: "abcd1234"}, protocomm.Scheme1, "home", "correct horse"},
		{"security 1 no pop", device.Config{SecVer: 1}, protocomm.Credentials{}, protocomm.Scheme1, "home", "correct horse"},
		{"security 1 longest ssid and passphrase", device.Config{SecVer: 1, PoP: "abcd1234"}, protocomm.Credentials{PoP: "abcd1234"}, protocomm.Scheme1, longSSID, longPass},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.APs = aps
			cfg.ConnectDelay = 10 * time.Millisecond
			cfg.NoAutoStop = true
			dev, err := device.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			sim := startSim(t, dev, simconsole.Options{Noise: true})
			tr := open(t, sim.Path(), Options{ExchangeTimeout: 3 * time.Second})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			v, err := protocomm.ReadVersion(ctx, tr)
			if err != nil {
				t.Fatalf("proto-ver: %v", err)
			}
			scheme, _, err := protocomm.SelectScheme(v, protocomm.Auto)
			if err != nil || scheme != tc.wantScheme {
				t.Fatalf("scheme %d, %v; want %d", scheme, err, tc.wantScheme)
			}
			hs, err := protocomm.NewHandshaker(scheme, v, tc.creds)
			if err != nil {
				t.Fatal(err)
			}
			sess, err := protocomm.Establish(ctx, tr, hs)
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			got, err := wifiprov.Scan(ctx, sess, wifiprov.ScanOptions{PageSize: uint32(tr.ScanPageSize())})
			if err != nil {
				t.Fatalf("scan: %v", err)
			}
			if len(got) != len(aps) {
				t.Fatalf("scan found %d APs, want %d: %+v", len(got), len(aps), got)
			}
			if string(got[0].SSID) != "home" {
				t.Errorf("strongest AP %q, want home", got[0].SSID)
			}
			if err := wifiprov.SetConfig(ctx, sess, []byte(tc.ssid), []byte(tc.pass)); err != nil {
				t.Fatalf("set config: %v", err)
			}
			if err := wifiprov.ApplyConfig(ctx, sess); err != nil {
				t.Fatalf("apply config: %v", err)
			}
			var st wifiprov.State
			for polls := 0; ; polls++ {
				if polls > 100 {
					t.Fatalf("not connected: %+v", st)
				}
				time.Sleep(20 * time.Millisecond)
				if st, err = wifiprov.GetStatus(ctx, sess); err != nil {
					t.Fatalf("get status: %v", err)
				}
				if st.Station == devicepb.WifiStationState_Connected {
					break
				}
				if st.Station != devicepb.WifiStationState_Connecting {
					t.Fatalf("connection failed: %+v", st)
				}
			}
			if string(st.SSID) != tc.ssid {
				t.Errorf("connected to %q", st.SSID)
			}
			if s := dev.Stats(); s.HandshakesCompleted != 1 || s.Failures != 0 {
				t.Errorf("device stats %+v", s)
			}
		})
	}
}

func TestEndToEndWrongPoP(t *testing.T) {
	dev, err := device.New(device.Config{SecVer: 1, PoP: "right-pop"})
	if err != nil {
		t.Fatal(err)
	}
	sim := startSim(t, dev, simconsole.Options{Noise: true})
	tr := open(t, sim.Path(), Options{ExchangeTimeout: 3 * time.Second})
	ctx := ctxT(t)
	v, err := protocomm.ReadVersion(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := protocomm.NewHandshaker(protocomm.Scheme1, v, protocomm.Credentials{PoP: "wrong-pop"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := protocomm.Establish(ctx, tr, hs); !errors.Is(err, protocomm.ErrCredentialsRejected) {
		t.Fatalf("wrong PoP: %v", err)
	}
	// A new console session id starts over on the device: the right PoP works.
	tr.NewSession()
	hs, _ = protocomm.NewHandshaker(protocomm.Scheme1, v, protocomm.Credentials{PoP: "right-pop"})
	if _, err := protocomm.Establish(ctx, tr, hs); err != nil {
		t.Fatalf("right PoP after a new session: %v", err)
	}
	if s := dev.Stats(); s.RejectedProofs != 1 || s.HandshakesCompleted != 1 {
		t.Errorf("device stats %+v", s)
	}
}

// Security 2 is refused before anything reaches the device, and the error
// names the 256-byte line limit.
func TestEndToEndSecurity2Refused(t *testing.T) {
	dev, err := device.New(device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: "wifiprov", SRPPassword: "abcd1234"})
	if err != nil {
		t.Fatal(err)
	}
	sim := startSim(t, dev, simconsole.Options{Noise: true})
	tr := open(t, sim.Path(), Options{})
	ctx := ctxT(t)
	v, err := protocomm.ReadVersion(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	scheme, _, err := protocomm.SelectScheme(v, protocomm.Auto)
	if err != nil || scheme != protocomm.Scheme2 {
		t.Fatalf("scheme %d, %v", scheme, err)
	}
	hs, err := protocomm.NewHandshaker(scheme, v, protocomm.Credentials{SRPUsername: "wifiprov", SRPPassword: "abcd1234"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = protocomm.Establish(ctx, tr, hs)
	if !errors.Is(err, transports.ErrTooLarge) {
		t.Fatalf("Security 2 over console: %v", err)
	}
	for _, want := range []string{"256 bytes including CR", "Security 2", "406 bytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if n := dev.Stats().Exchanges[protocomm.EndpointSession]; n != 0 {
		t.Errorf("device saw %d prov-session exchanges", n)
	}
	if s := sim.Stats(); s.Lines != 1 { // proto-ver only
		t.Errorf("console stats %+v", s)
	}
}
