package fleet

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/protocomm"
	"github.com/espprov/espprov/internal/sim/device"
	"github.com/espprov/espprov/internal/wifiprov"
	"github.com/espprov/espprov/internal/wire/devicepb"
	"github.com/espprov/espprov/transports/httpd"
)

// TestInteropWithClientStack provisions fleet devices of every scheme with
// espprov's own client stack (transports/httpd, internal/protocomm,
// internal/wifiprov) over loopback HTTP.
func TestInteropWithClientStack(t *testing.T) {
	checkGoroutines(t)
	aps := []device.AP{
		{SSID: "home", Passphrase: "homepass1", Channel: 6, RSSI: -50},
		{SSID: "guest", Channel: 11, RSSI: -40},
	}
	cases := []struct {
		name     string
		cfg      device.Config
		creds    protocomm.Credentials
		ssid     string
		pass     string
		wantFail devicepb.WifiConnectFailedReason
		wantOK   bool
	}{
		{"sec0 open", device.Config{}, protocomm.Credentials{}, "guest", "", 0, true},
		{"sec1 pop", device.Config{SecVer: 1, PoP: "abcd1234"}, protocomm.Credentials{PoP: "abcd1234"}, "home", "homepass1", 0, true},
		{"sec1 no pop", device.Config{SecVer: 1}, protocomm.Credentials{PoP: "ignored"}, "home", "wrong-pass", devicepb.WifiConnectFailedReason_AuthError, false},
		{"sec2 patch1", device.Config{SecVer: 2, SecPatchVer: 1, SRPPassword: "pw12345678"},
			protocomm.Credentials{SRPUsername: "wifiprov", SRPPassword: "pw12345678"}, "home", "homepass1", 0, true},
		{"sec2 patch0", device.Config{SecVer: 2, SRPUsername: "u", SRPPassword: "pw"},
			protocomm.Credentials{SRPUsername: "u", SRPPassword: "pw"}, "nothere", "x", devicepb.WifiConnectFailedReason_NetworkNotFound, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.APs = aps
			cfg.ConnectDelay = 5 * time.Millisecond
			f := start(t, Options{N: 1, Template: cfg})
			m := f.Devices()[0]
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			tr, err := httpd.Dial(ctx, m.Addr, httpd.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			v, err := protocomm.ReadVersion(ctx, tr)
			if err != nil {
				t.Fatal(err)
			}
			scheme, _, err := protocomm.SelectScheme(v, protocomm.Auto)
			if err != nil || int(scheme) != cfg.SecVer {
				t.Fatalf("scheme %v %v, want %d", scheme, err, cfg.SecVer)
			}
			hs, err := protocomm.NewHandshaker(scheme, v, tc.creds)
			if err != nil {
				t.Fatal(err)
			}
			s, err := protocomm.Establish(ctx, tr, hs)
			if err != nil {
				t.Fatal(err)
			}
			found, err := wifiprov.Scan(ctx, s, wifiprov.ScanOptions{GroupChannels: 5, PageSize: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(found) != 2 || string(found[0].SSID) != "guest" || string(found[1].SSID) != "home" || found[1].Auth != 3 {
				t.Fatalf("scan %+v", found)
			}
			if err := wifiprov.SetConfig(ctx, s, []byte(tc.ssid), []byte(tc.pass)); err != nil {
				t.Fatal(err)
			}
			if err := wifiprov.ApplyConfig(ctx, s); err != nil {
				t.Fatal(err)
			}
			for {
				st, err := wifiprov.GetStatus(ctx, s)
				if err != nil {
					t.Fatal(err)
				}
				if st.Station == devicepb.WifiStationState_Connecting {
					time.Sleep(2 * time.Millisecond)
					continue
				}
				if tc.wantOK {
					if st.Station != devicepb.WifiStationState_Connected || st.IP != m.Config.StationIP || string(st.SSID) != tc.ssid {
						t.Fatalf("state %+v", st)
					}
				} else {
					if st.Station != devicepb.WifiStationState_ConnectionFailed || !st.HasFailReason || st.FailReason != tc.wantFail {
						t.Fatalf("state %+v", st)
					}
					if err := wifiprov.Reset(ctx, s); err != nil {
						t.Fatal(err)
					}
					if w := m.Device.Wifi(); w.State != device.WifiIdle {
						t.Fatalf("after reset %v", w)
					}
				}
				break
			}
		})
	}
	t.Run("wrong credentials", func(t *testing.T) {
		for _, c := range []struct {
			cfg   device.Config
			creds protocomm.Credentials
		}{
			{device.Config{SecVer: 1, PoP: "right"}, protocomm.Credentials{PoP: "wrong"}},
			{device.Config{SecVer: 2, SRPPassword: "right"}, protocomm.Credentials{SRPUsername: "wifiprov", SRPPassword: "wrong"}},
		} {
			f := start(t, Options{N: 1, Template: c.cfg})
			m := f.Devices()[0]
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			tr, err := httpd.Dial(ctx, m.Addr, httpd.Options{})
			if err != nil {
				t.Fatal(err)
			}
			v, err := protocomm.ReadVersion(ctx, tr)
			if err != nil {
				t.Fatal(err)
			}
			hs, err := protocomm.NewHandshaker(protocomm.Scheme(c.cfg.SecVer), v, c.creds)
			if err != nil {
				t.Fatal(err)
			}
			_, err = protocomm.Establish(ctx, tr, hs)
			tr.Close()
			cancel()
			if !errors.Is(err, protocomm.ErrCredentialsRejected) {
				t.Fatalf("sec%d: %v", c.cfg.SecVer, err)
			}
			if st := m.Device.Stats(); st.RejectedProofs != 1 || st.HandshakesCompleted != 0 {
				t.Fatalf("stats %+v", st)
			}
		}
	})
}
