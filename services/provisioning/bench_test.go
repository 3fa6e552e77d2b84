package provisioning_test

import (
	"testing"
	"time"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
)

// BenchmarkProvision measures one full Provision through the gRPC server
// against a simulated device over loopback HTTP: proto-ver, handshake,
// SetConfig, ApplyConfig and status polling with the default schedule,
// against a device that joins at once. device=nagle answers like
// esp_http_server on lwIP (two writes, Nagle on); device=fast in one write.
// exchanges/op is the round trips per provisioning (MinExchanges is the
// protocol minimum).
func BenchmarkProvision(b *testing.B) {
	h := startServer(b)
	for _, tc := range rtCases() {
		for _, nagle := range []bool{true, false} {
			name := tc.name + "/device=fast"
			if nagle {
				name = tc.name + "/device=nagle"
			}
			b.Run(name, func(b *testing.B) {
				tc.cfg.ConnectDelay = time.Nanosecond
				tc.cfg.NoAutoStop = true
				d := startDevice(b, tc.cfg, simhttpd.Options{Nagle: nagle})
				req := provisionReq(d.addr, tc.sec, testSSID, testPass)
				req.Timeouts = nil
				b.ReportAllocs()
				exchanges := 0
				for b.Loop() {
					b.StopTimer()
					d.dev.Reset()
					b.StartTimer()
					events, err := collect(b, h.client, req)
					if err != nil || !events[len(events)-1].GetResult().GetSuccess() {
						b.Fatalf("provision: %v", err)
					}
					exchanges += totalExchanges(d.dev)
				}
				b.ReportMetric(float64(exchanges)/float64(b.N), "exchanges/op")
			})
		}
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

// BenchmarkProvisionAssociation2s is BenchmarkProvision (Security 1, Nagle
// device) against a device that takes 2 s to join: ns/op is the per-device
// time a client sees, exchanges/op includes the status polls.
func BenchmarkProvisionAssociation2s(b *testing.B) {
	h := startServer(b)
	c := rtCases()[1]
	c.cfg.ConnectDelay = 2 * time.Second
	c.cfg.NoAutoStop = true
	d := startDevice(b, c.cfg, simhttpd.Options{Nagle: true})
	req := provisionReq(d.addr, c.sec, testSSID, testPass)
	req.Timeouts = nil
	exchanges := 0
	for b.Loop() {
		b.StopTimer()
		d.dev.Reset()
		b.StartTimer()
		events, err := collect(b, h.client, req)
		if err != nil || !events[len(events)-1].GetResult().GetSuccess() {
			b.Fatalf("provision: %v", err)
		}
		exchanges += totalExchanges(d.dev)
	}
	b.ReportMetric(float64(exchanges)/float64(b.N), "exchanges/op")
}
