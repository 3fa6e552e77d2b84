package ble_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/sim/bluez"
	"github.com/espprov/espprov/transports"
	"github.com/espprov/espprov/transports/ble"
)

// Connect attempts that hang (no advertisement heard) are cancelled and made
// again, failed ones retried, all within the connect deadline.
func TestConnectAttempts(t *testing.T) {
	const attempt = 300 * time.Millisecond
	defer ble.SetConnectAttempt(attempt)()
	srv := startSim(t, bluez.Config{})
	baseline := warmUp(t)
	tests := []struct {
		name       string
		cfg        bluez.DeviceConfig
		timeout    time.Duration
		wantErr    string // "" → Open succeeds
		wantStalls int
		minTook    time.Duration
		maxTook    time.Duration
	}{
		{"stalled attempt cancelled and made again", bluez.DeviceConfig{StallConnects: 1}, 5 * time.Second, "", 1, attempt, attempt + 2*time.Second},
		{"two stalled attempts", bluez.DeviceConfig{StallConnects: 2}, 5 * time.Second, "", 2, 2 * attempt, 2*attempt + 2*time.Second},
		{"failed attempts retried", bluez.DeviceConfig{FailConnects: 3}, 5 * time.Second, "", 0, 0, 3 * time.Second},
		{"no link within the deadline", bluez.DeviceConfig{StallConnects: 1000}, 1100 * time.Millisecond,
			"connect (attempt ", 2, time.Second, 3 * time.Second},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Name = "PROV_CONN" + string(rune('A'+i))
			d := addDevice(t, srv, "hci0", tc.cfg)
			start := time.Now()
			tr, err := ble.Open(testCtx(t), ble.Options{Name: tc.cfg.Name, ConnectTimeout: tc.timeout})
			took := time.Since(start)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if _, err := tr.Exchange(testCtx(t), "proto-ver", []byte("v")); err != nil {
					t.Fatalf("exchange after the retried connect: %v", err)
				}
				if err := tr.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				if err == nil {
					tr.Close()
					t.Fatal("Open succeeded")
				}
				if !errors.Is(err, transports.ErrUnreachable) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %q, want ErrUnreachable containing %q", err, tc.wantErr)
				}
			}
			if got := d.StalledConnects(); got < tc.wantStalls || (tc.wantErr == "" && got != tc.wantStalls) {
				t.Errorf("%d stalled Connect calls, want %d", got, tc.wantStalls)
			}
			if took < tc.minTook || took > tc.maxTook {
				t.Errorf("Open took %v, want %v..%v", took, tc.minTook, tc.maxTook)
			}
			if d.Connected() {
				t.Error("device left connected")
			}
		})
	}
	checkNoLeak(t, baseline)
}

// ESPPROV_BLE_CONNECT_TIMEOUT sets the connect deadline of Opens that set
// none.
func TestConnectTimeoutEnv(t *testing.T) {
	defer ble.SetConnectAttempt(100 * time.Millisecond)()
	srv := startSim(t, bluez.Config{})
	addDevice(t, srv, "hci0", bluez.DeviceConfig{Name: "PROV_ENV", StallConnects: 1000})
	baseline := warmUp(t)
	for _, tc := range []struct {
		env      string
		min, max time.Duration
	}{
		{"700ms", 600 * time.Millisecond, 3 * time.Second},
		{"1.5s", 1400 * time.Millisecond, 4 * time.Second},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv(ble.ConnectTimeoutEnv, tc.env)
			start := time.Now()
			tr, err := ble.Open(testCtx(t), ble.Options{Name: "PROV_ENV"})
			took := time.Since(start)
			if err == nil {
				tr.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, transports.ErrUnreachable) || took < tc.min || took > tc.max {
				t.Fatalf("after %v: %v; want ErrUnreachable after %v..%v", took, err, tc.min, tc.max)
			}
		})
	}
	checkNoLeak(t, baseline)
}
