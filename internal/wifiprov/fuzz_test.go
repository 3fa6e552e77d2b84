package wifiprov

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/fuzzkit"
	"github.com/espprov/espprov/internal/sim/device"
)

func unhexF(f *testing.F, s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// simReplies runs the calls against a simulated Security 0 device and
// returns its replies in order: real device traffic for the seeds.
func simReplies(f *testing.F, run func(Caller) error) [][]byte {
	d, err := device.New(device.Config{ConnectDelay: time.Nanosecond, APs: []device.AP{
		{SSID: "HomeNet", Passphrase: "secret-pass", Channel: 6}, {SSID: "Open"}, {SSID: "Other", Passphrase: "x1234567", Auth: 4}}})
	if err != nil {
		f.Fatal(err)
	}
	rec := &simCaller{d: d}
	if err := run(rec); err != nil {
		f.Fatal(err)
	}
	return rec.replies
}

type simCaller struct {
	d       *device.Device
	replies [][]byte
}

func (s *simCaller) Call(_ context.Context, ep string, req []byte) ([]byte, error) {
	b, err := s.d.Handle("seed", ep, req)
	s.replies = append(s.replies, b)
	return b, err
}

// FuzzScanReplies feeds arbitrary prov-scan replies to a whole scan: start,
// status polls and result pages. It must never panic; a success returns at
// most as many entries as the device reported, each BSSID formatted.
func FuzzScanReplies(f *testing.F) {
	real := simReplies(f, func(c Caller) error {
		_, err := Scan(context.Background(), c, ScanOptions{PageSize: 2})
		return err
	})
	if len(real) != 4 {
		f.Fatalf("scan seed: %d replies", len(real))
	}
	start, status, result := real[0], real[1], real[2]
	f.Add(start, status, result, real[3])
	f.Add(start, unhexF(f, "0803 8a0102 0801"), []byte{}, []byte{})
	f.Add([]byte{0x08, 0x01, 0x10, 0x05}, []byte{}, []byte{}, []byte{})
	f.Add(start, unhexF(f, "0803 8a0104 0801 10ff01"), result, result)
	f.Fuzz(func(t *testing.T, a, b, c, d []byte) {
		r := fuzzkit.NewReplies(a, b, c, d, c, d)
		aps, err := Scan(context.Background(), r, ScanOptions{PageSize: 4})
		if err != nil {
			if aps != nil {
				t.Fatalf("error %v with %d results", err, len(aps))
			}
			if !errors.Is(err, ErrReply) && !errors.Is(err, ErrDevice) && !errors.Is(err, fuzzkit.ErrNoReply) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		for _, ap := range aps {
			_ = ap.BSSIDString()
			_ = AuthName(ap.Auth)
		}
	})
}

// FuzzConfigReplies feeds arbitrary prov-config replies to SetConfig,
// ApplyConfig and GetStatus.
func FuzzConfigReplies(f *testing.F) {
	real := simReplies(f, func(c Caller) error {
		ctx := context.Background()
		if err := SetConfig(ctx, c, []byte("HomeNet"), []byte("secret-pass")); err != nil {
			return err
		}
		if err := ApplyConfig(ctx, c); err != nil {
			return err
		}
		_, err := GetStatus(ctx, c)
		return err
	})
	f.Add(real[0], real[1], real[2])
	f.Add(unhexF(f, "08036a00"), unhexF(f, "08057a00"), unhexF(f, "0801 5a24 5a22 0a0c 3139322e3136382e312e3233 1003 1a06 6d7973736964 2206 240ac4112233 2806"))
	f.Add(unhexF(f, "0803 1005 6a00"), []byte{}, unhexF(f, "0801 5a04 0803 1001"))
	f.Add([]byte{0xff}, []byte{0x08}, unhexF(f, "0801 5a06 0801 2a02 0803"))
	f.Fuzz(func(t *testing.T, set, apply, status []byte) {
		ctx := context.Background()
		check := func(err error) {
			if err != nil && !errors.Is(err, ErrReply) && !errors.Is(err, ErrDevice) {
				t.Fatalf("unclassified error: %v", err)
			}
		}
		check(SetConfig(ctx, fuzzkit.NewReplies(set), []byte("ssid"), []byte("passphrase")))
		check(ApplyConfig(ctx, fuzzkit.NewReplies(apply)))
		st, err := GetStatus(ctx, fuzzkit.NewReplies(status))
		check(err)
		if err == nil && st.IP != "" && len(st.IP) > 64 {
			t.Fatalf("IP %q", st.IP)
		}
	})
}

// FuzzCtrlReplies feeds arbitrary prov-ctrl replies to Reset and Reprov.
func FuzzCtrlReplies(f *testing.F) {
	f.Add(unhexF(f, "08027200"))
	f.Add(unhexF(f, "08047a00"))
	f.Add(unhexF(f, "0802 1005 7200"))
	f.Fuzz(func(t *testing.T, reply []byte) {
		for _, call := range []func(context.Context, Caller) error{Reset, Reprov} {
			err := call(context.Background(), fuzzkit.NewReplies(reply))
			if err != nil && !errors.Is(err, ErrReply) && !errors.Is(err, ErrDevice) {
				t.Fatalf("unclassified error: %v", err)
			}
		}
	})
}
