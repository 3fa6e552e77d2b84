package provisioning_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
)

// BenchmarkProvision measures one full Provision through the gRPC server
// against a simulated device over loopback HTTP: proto-ver, handshake,
// SetConfig, ApplyConfig and status polling (10 ms poll, 1 ms connect delay).
func BenchmarkProvision(b *testing.B) {
	cases := []struct {
		name string
		cfg  device.Config
		sec  *espprovv1.Security
	}{
		{"sec0", device.Config{SecVer: 0}, nil},
		{"sec1", device.Config{SecVer: 1, PoP: testPoP}, &espprovv1.Security{Pop: testPoP}},
		{"sec2", device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: testUser, SRPPassword: testPoP}, &espprovv1.Security{Sec2Username: testUser, Sec2Password: testPoP}},
	}
	h := startServer(b)
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			tc.cfg.ConnectDelay = time.Millisecond
			tc.cfg.NoAutoStop = true
			d := startDevice(b, tc.cfg, simhttpd.Options{})
			req := provisionReq(d.addr, tc.sec, testSSID, testPass)
			req.Timeouts.StatusPoll = durationpb.New(10 * time.Millisecond)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				d.dev.Reset()
				b.StartTimer()
				events, err := collect(b, h.client, req)
				if err != nil || !events[len(events)-1].GetResult().GetSuccess() {
					b.Fatalf("provision: %v", err)
				}
			}
		})
	}
}

// BenchmarkScanWifi measures session setup plus a full Wi-Fi scan.
func BenchmarkScanWifi(b *testing.B) {
	h := startServer(b)
	d := startDevice(b, device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: testUser, SRPPassword: testPoP}, simhttpd.Options{})
	req := &espprovv1.ScanWifiRequest{
		Device:   &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: d.addr},
		Security: &espprovv1.Security{Sec2Username: testUser, Sec2Password: testPoP},
		Timeouts: fastTimeouts(),
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.client.ScanWifi(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}
