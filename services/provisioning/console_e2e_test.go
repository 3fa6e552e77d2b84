package provisioning_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	simconsole "github.com/espprov/espprov/internal/sim/console"
	"github.com/espprov/espprov/internal/sim/device"
)

// startConsoleDevice serves a simulated device's console on a real pty.
func startConsoleDevice(t *testing.T, cfg device.Config) (*device.Device, string) {
	t.Helper()
	if cfg.APs == nil {
		cfg.APs = testAPs
	}
	cfg.ConnectDelay = 20 * time.Millisecond
	cfg.CleanupDelay = 50 * time.Millisecond
	dev, err := device.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := simconsole.Serve(context.Background(), dev, simconsole.Options{Noise: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return dev, c.Path()
}

func consoleReq(port string, sec *espprovv1.Security) *espprovv1.ProvisionRequest {
	return &espprovv1.ProvisionRequest{
		Device:   &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_CONSOLE, SerialPort: port},
		Security: sec,
		Wifi:     &espprovv1.WifiCredentials{Ssid: testSSID, Passphrase: testPass},
		Timeouts: fastTimeouts(),
	}
}

func TestConsoleProvision(t *testing.T) {
	h := startServer(t)
	tests := []struct {
		name string
		cfg  device.Config
		sec  *espprovv1.Security
	}{
		{"security 0", device.Config{SecVer: 0}, nil},
		{"security 1", device.Config{SecVer: 1, PoP: testPoP}, &espprovv1.Security{Pop: testPoP}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dev, port := startConsoleDevice(t, tc.cfg)
			events, err := collect(t, h.client, consoleReq(port, tc.sec))
			if err != nil {
				t.Fatalf("Provision: %v (%v)", err, steps(events))
			}
			if res := lastResult(t, events); !res.GetSuccess() || res.GetIp4Address() != dev.Config().StationIP {
				t.Fatalf("result %v", res)
			}
		})
	}
}

func TestConsoleSecurity2Refused(t *testing.T) {
	h := startServer(t)
	dev, port := startConsoleDevice(t, device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: testUser, SRPPassword: testPoP})
	_, err := collect(t, h.client, consoleReq(port, &espprovv1.Security{Sec2Username: testUser, Sec2Password: testPoP}))
	st := status.Convert(err)
	if st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), "line limit") {
		t.Fatalf("status %v %q, want FailedPrecondition naming the line limit", st.Code(), st.Message())
	}
	if n := dev.Stats().Exchanges["prov-session"]; n != 0 {
		t.Errorf("%d prov-session exchanges reached the device", n)
	}
}

func TestConsoleDiscoverAndBadPorts(t *testing.T) {
	h := startServer(t)
	_, port := startConsoleDevice(t, device.Config{SecVer: 1})
	stream, err := h.client.Discover(context.Background(), &espprovv1.DiscoverRequest{
		Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_CONSOLE, SerialPort: port}})
	if err != nil {
		t.Fatal(err)
	}
	var found []*espprovv1.DiscoverResponse
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, r)
	}
	if len(found) != 1 || found[0].GetAddress() != port || found[0].GetSecurity() != espprovv1.SecurityScheme_SECURITY_SCHEME_1 || found[0].GetPopRequired() {
		t.Fatalf("Discover = %v", found)
	}
	tests := []struct {
		port string
		baud uint32
		code codes.Code
	}{
		{"", 0, codes.InvalidArgument},
		{"ttyUSB0", 0, codes.InvalidArgument},
		{port, 12, codes.InvalidArgument},
		{"/dev/ttyESPPROV-does-not-exist", 0, codes.Unavailable},
	}
	for _, tc := range tests {
		req := consoleReq(tc.port, nil)
		req.Device.BaudRate = tc.baud
		if _, err := collect(t, h.client, req); status.Code(err) != tc.code {
			t.Errorf("port %q baud %d: %v, want %v", tc.port, tc.baud, err, tc.code)
		}
	}
}
