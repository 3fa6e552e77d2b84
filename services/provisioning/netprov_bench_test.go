package provisioning_test

import (
	"testing"
	"time"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
)

// BenchmarkProvisionNetProv is one provisioning of an ESP-IDF 6 device
// (Security 2) over gRPC and loopback HTTP: Thread with a dataset, and
// Wi-Fi through the network_* messages; exchanges/op counts round trips.
func BenchmarkProvisionNetProv(b *testing.B) {
	h := startServer(b)
	for _, tc := range []struct {
		name   string
		thread bool
	}{{"thread", true}, {"wifi", false}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := netprovConfig(b, !tc.thread, tc.thread)
			cfg.ConnectDelay, cfg.ThreadAttachDelay, cfg.NoAutoStop = time.Nanosecond, time.Nanosecond, true
			d := startDevice(b, cfg, simhttpd.Options{})
			req := provisionReq(d.addr, sec2Creds, testSSID, testPass)
			if tc.thread {
				req.Wifi, req.Thread = nil, &espprovv1.ThreadCredentials{Dataset: otDataset}
			}
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

func BenchmarkScanThread(b *testing.B) {
	h := startServer(b)
	d := startDevice(b, netprovConfig(b, false, true), simhttpd.Options{})
	req := &espprovv1.ScanThreadRequest{Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: d.addr}, Security: sec2Creds, Timeouts: fastTimeouts()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.client.ScanThread(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}
