package provisioning_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
)

// TestValidationBeforeIO: every field is checked against the firmware's
// limits before anything is sent; the device sees nothing.
func TestValidationBeforeIO(t *testing.T) {
	h := startServer(t)
	d := startDevice(t, device.Config{SecVer: 1, PoP: testPoP}, simhttpd.Options{})
	sec := &espprovv1.Security{Pop: testPoP}
	big, _ := structpb.NewStruct(map[string]any{"blob": strings.Repeat("x", 20<<10)})
	var manyTags []string
	for range 33 {
		manyTags = append(manyTags, "k:v")
	}
	tests := []struct {
		name  string
		edit  func(*espprovv1.ProvisionRequest)
		field string
	}{
		{"SSID of 33 bytes", func(r *espprovv1.ProvisionRequest) { r.Wifi.Ssid = strings.Repeat("s", 33) }, "wifi.ssid"},
		{"SSID with NUL", func(r *espprovv1.ProvisionRequest) { r.Wifi.Ssid = "Home\x00Net" }, "wifi.ssid"},
		{"passphrase of 7", func(r *espprovv1.ProvisionRequest) { r.Wifi.Passphrase = "1234567" }, "wifi.passphrase"},
		{"passphrase of 64 hex digits", func(r *espprovv1.ProvisionRequest) { r.Wifi.Passphrase = strings.Repeat("ab", 32) }, "wifi.passphrase"},
		{"passphrase with a control character", func(r *espprovv1.ProvisionRequest) { r.Wifi.Passphrase = "secret\npass" }, "wifi.passphrase"},
		{"PoP with NUL", func(r *espprovv1.ProvisionRequest) { r.Security.Pop = "abcd\x001234" }, "security.pop"},
		{"PoP of 129 bytes", func(r *espprovv1.ProvisionRequest) { r.Security.Pop = strings.Repeat("p", 129) }, "security.pop"},
		{"SRP username with a newline", func(r *espprovv1.ProvisionRequest) {
			r.Security = &espprovv1.Security{Sec2Username: "wifi\nprov", Sec2Password: "abcd1234"}
		}, "security.sec2_username"},
		{"overall timeout of 1 s", func(r *espprovv1.ProvisionRequest) { r.Timeouts.Overall = durationpb.New(time.Second) }, "timeouts.overall"},
		{"exchange timeout of -1 ns", func(r *espprovv1.ProvisionRequest) { r.Timeouts.Exchange = durationpb.New(-1) }, "timeouts.exchange"},
		{"exchange timeout of 1 ns", func(r *espprovv1.ProvisionRequest) { r.Timeouts.Exchange = durationpb.New(1) }, "timeouts.exchange"},
		{"wifi timeout of 500 ms", func(r *espprovv1.ProvisionRequest) { r.Timeouts.WifiConnect = durationpb.New(500 * time.Millisecond) }, "timeouts.wifi_connect"},
		{"wifi timeout of 2 h", func(r *espprovv1.ProvisionRequest) { r.Timeouts.WifiConnect = durationpb.New(2 * time.Hour) }, "timeouts.wifi_connect"},
		{"33 tags", func(r *espprovv1.ProvisionRequest) { r.Mapping = &espprovv1.Mapping{Enabled: true, Tags: manyTags} }, "mapping.tags"},
		{"tag with a control character", func(r *espprovv1.ProvisionRequest) {
			r.Mapping = &espprovv1.Mapping{Enabled: true, Tags: []string{"line:\x07A3"}}
		}, "mapping.tags"},
		{"20 KiB of metadata", func(r *espprovv1.ProvisionRequest) { r.Mapping = &espprovv1.Mapping{Enabled: true, Metadata: big} }, "mapping.metadata"},
		{"mapping max_wait of -1 ns", func(r *espprovv1.ProvisionRequest) {
			r.Mapping = &espprovv1.Mapping{Enabled: true, MaxWait: durationpb.New(-1)}
		}, "mapping.max_wait"},
		{"device name with NUL", func(r *espprovv1.ProvisionRequest) { r.Device.Name = "PROV_\x00" }, "device.name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := provisionReq(d.addr, sec, testSSID, testPass)
			req.Security = &espprovv1.Security{Pop: testPoP}
			tc.edit(req)
			_, err := collect(t, h.client, req)
			if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), tc.field) {
				t.Fatalf("%v, want InvalidArgument about %s", err, tc.field)
			}
			for _, secret := range []string{"secret\npass", "abcd\x001234"} {
				if strings.Contains(status.Convert(err).Message(), secret) {
					t.Fatal("the error shows a secret")
				}
			}
		})
	}
	t.Run("Discover timeout of -1 ns", func(t *testing.T) {
		stream, err := h.client.Discover(context.Background(), &espprovv1.DiscoverRequest{Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: d.addr}, Timeout: durationpb.New(-1)})
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("%v, want InvalidArgument", err)
		}
	})
	if st := d.dev.Stats(); len(st.Exchanges) != 0 {
		t.Fatalf("the device was contacted: %v", st.Exchanges)
	}
}
