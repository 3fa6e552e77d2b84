package ble_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/protocomm"
	"github.com/espprov/espprov/internal/sim/bluez"
	"github.com/espprov/espprov/internal/sim/device"
	"github.com/espprov/espprov/internal/wifiprov"
	"github.com/espprov/espprov/internal/wire/devicepb"
	"github.com/espprov/espprov/transports"
	"github.com/espprov/espprov/transports/ble"
)

// recorder wraps the simulated device and records the traffic sizes and
// the scan-result page sizes the client asked for.
type recorder struct {
	device.Protocomm
	mu               sync.Mutex
	maxReq, maxReply int
	exchanges        map[string]int
}

func (r *recorder) Handle(session, endpoint string, req []byte) ([]byte, error) {
	reply, err := r.Protocomm.Handle(session, endpoint, req)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.maxReq = max(r.maxReq, len(req))
	r.maxReply = max(r.maxReply, len(reply))
	r.exchanges[endpoint]++
	return reply, err
}

func TestProvisionOverBLE(t *testing.T) {
	const ssid, pass = "espprov-lab", "correct horse"
	aps := []device.AP{{SSID: ssid, Passphrase: pass, RSSI: -40}}
	for i := 0; i < 9; i++ {
		aps = append(aps, device.AP{SSID: fmt.Sprintf("neighbour-%d", i), Passphrase: "x12345678", RSSI: -50 - i})
	}
	tests := []struct {
		name  string
		cfg   device.Config
		creds protocomm.Credentials
	}{
		{"security 0", device.Config{SecVer: 0}, protocomm.Credentials{}},
		{"security 1", device.Config{SecVer: 1, PoP: "abcd1234"}, protocomm.Credentials{PoP: "abcd1234"}},
		{"security 2 patch 1", device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: "wifiprov", SRPPassword: "abcd1234"},
			protocomm.Credentials{SRPUsername: "wifiprov", SRPPassword: "abcd1234"}},
		{"security 2 patch 0", device.Config{SecVer: 2, SecPatchVer: 0, SRPUsername: "wifiprov", SRPPassword: "abcd1234"},
			protocomm.Credentials{SRPUsername: "wifiprov", SRPPassword: "abcd1234"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startSim(t, bluez.Config{})
			tc.cfg.Name = "PROV_E2E"
			tc.cfg.APs = aps
			tc.cfg.ConnectDelay = 20 * time.Millisecond
			tc.cfg.NoAutoStop = true
			dev, err := device.New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{Protocomm: dev, exchanges: map[string]int{}}
			d := addDevice(t, srv, "hci0", bluez.DeviceConfig{Name: "PROV_E2E", Protocomm: rec})
			baseline := warmUp(t)
			ctx := testCtx(t)

			tr, err := ble.Open(ctx, ble.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			v, err := protocomm.ReadVersion(ctx, tr)
			if err != nil {
				t.Fatal(err)
			}
			scheme, _, err := protocomm.SelectScheme(v, protocomm.Auto)
			if err != nil || int(scheme) != tc.cfg.SecVer {
				t.Fatalf("scheme %v (%v), device runs %d", scheme, err, tc.cfg.SecVer)
			}
			hs, err := protocomm.NewHandshaker(scheme, v, tc.creds)
			if err != nil {
				t.Fatal(err)
			}
			sess, err := protocomm.Establish(ctx, tr, hs)
			if err != nil {
				t.Fatal(err)
			}
			found, err := wifiprov.Scan(ctx, sess, wifiprov.ScanOptions{PageSize: uint32(tr.ScanPageSize())})
			if err != nil {
				t.Fatal(err)
			}
			if len(found) != len(aps) || string(found[0].SSID) != ssid {
				t.Fatalf("scan found %d networks, first %q", len(found), found[0].SSID)
			}
			// start + status + ceil(10/4) result pages.
			rec.mu.Lock()
			n := rec.exchanges["prov-scan"]
			rec.mu.Unlock()
			if n != 2+3 {
				t.Fatalf("prov-scan exchanges %d, want 5 (4 results per page)", n)
			}
			if err := wifiprov.SetConfig(ctx, sess, []byte(ssid), []byte(pass)); err != nil {
				t.Fatal(err)
			}
			if err := wifiprov.ApplyConfig(ctx, sess); err != nil {
				t.Fatal(err)
			}
			for {
				st, err := wifiprov.GetStatus(ctx, sess)
				if err != nil {
					t.Fatal(err)
				}
				if st.Station == devicepb.WifiStationState_Connected {
					if string(st.SSID) != ssid {
						t.Fatalf("connected to %q", st.SSID)
					}
					break
				}
				if st.Station != devicepb.WifiStationState_Connecting {
					t.Fatalf("station state %v", st.Station)
				}
				select {
				case <-ctx.Done():
					t.Fatal("never connected")
				case <-time.After(20 * time.Millisecond):
				}
			}
			rec.mu.Lock()
			maxReq, maxReply := rec.maxReq, rec.maxReply
			rec.mu.Unlock()
			if maxReq > ble.MaxMessageSec2 || maxReply > ble.MaxMessageSec2 {
				t.Fatalf("message sizes req %d reply %d exceed 480", maxReq, maxReply)
			}
			if err := tr.Close(); err != nil {
				t.Fatal(err)
			}
			if d.Cached() {
				t.Fatal("device left in BlueZ cache")
			}
			checkNoLeak(t, baseline)
		})
	}
}

// A wrong proof makes the firmware drop the BLE link; the client sees the
// exchange closed rather than an answer.
func TestWrongPoPDropsLink(t *testing.T) {
	srv := startSim(t, bluez.Config{})
	dev, err := device.New(device.Config{Name: "PROV_POP", SecVer: 1, PoP: "right-pop"})
	if err != nil {
		t.Fatal(err)
	}
	d := addDevice(t, srv, "hci0", bluez.DeviceConfig{Name: "PROV_POP", Protocomm: dev})
	ctx := testCtx(t)
	tr, err := ble.Open(ctx, ble.Options{Name: "PROV_POP"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	v, err := protocomm.ReadVersion(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := protocomm.NewHandshaker(protocomm.Scheme1, v, protocomm.Credentials{PoP: "wrong-pop"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = protocomm.Establish(ctx, tr, hs)
	if !errors.Is(err, protocomm.ErrCredentialsRejected) || !errors.Is(err, transports.ErrClosed) {
		t.Fatalf("handshake with a wrong PoP: %v", err)
	}
	if d.Connected() {
		t.Fatal("device kept the link after a failed handshake")
	}
	// A new Open is a new connection and therefore a new protocomm session.
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	tr2, err := ble.Open(ctx, ble.Options{Name: "PROV_POP"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr2.Close()
	hs, _ = protocomm.NewHandshaker(protocomm.Scheme1, v, protocomm.Credentials{PoP: "right-pop"})
	if _, err := protocomm.Establish(ctx, tr2, hs); err != nil {
		t.Fatalf("retry with the right PoP: %v", err)
	}
}
