package provisioning_test

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/server"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
	"github.com/espprov/espprov/services/provisioning"
)

const (
	testPoP  = "abcd1234"
	testUser = "wifiprov"
	testSSID = "HomeNet"
	testPass = "secret-pass"
)

var testAPs = []device.AP{
	{SSID: testSSID, Passphrase: testPass, Channel: 6, RSSI: -40},
	{SSID: "Neighbour", Passphrase: "whatever1", Channel: 11, RSSI: -70},
	{SSID: "CafeOpen", Channel: 1, RSSI: -80},
}

type harness struct {
	srv    *server.Server
	conn   *grpc.ClientConn
	client espprovv1.ProvisioningServiceClient
}

func startServer(t testing.TB) *harness {
	t.Helper()
	return startServerWith(t, provisioning.Config{Modules: provisioning.DefaultModules()}, server.Options{})
}

// startServerWith starts a server on loopback with the given service
// configuration and server options (listen addresses and service are set here).
func startServerWith(t testing.TB, cfg provisioning.Config, o server.Options) *harness {
	t.Helper()
	o.GRPCListen, o.HTTPListen, o.Service = "127.0.0.1:0", "127.0.0.1:0", provisioning.New(cfg)
	srv, err := server.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	h := &harness{srv: srv, conn: conn, client: espprovv1.NewProvisioningServiceClient(conn)}
	// Warm the connection up so that its goroutines exist before any
	// goroutine-leak baseline is taken.
	if _, err := h.client.ScanWifi(context.Background(), &espprovv1.ScanWifiRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("warm-up call: %v", err)
	}
	return h
}

type simDevice struct {
	dev  *device.Device
	srv  *simhttpd.Server
	addr string
}

func startDevice(t testing.TB, cfg device.Config, opts simhttpd.Options) *simDevice {
	t.Helper()
	if cfg.APs == nil {
		cfg.APs = testAPs
	}
	if cfg.ConnectDelay == 0 {
		cfg.ConnectDelay = 20 * time.Millisecond
	}
	if cfg.CleanupDelay == 0 {
		cfg.CleanupDelay = 50 * time.Millisecond
	}
	dev, err := device.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := simhttpd.New(dev, opts)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return &simDevice{dev: dev, srv: s, addr: l.Addr().String()}
}

func fastTimeouts() *espprovv1.Timeouts {
	return &espprovv1.Timeouts{
		Exchange:    durationpb.New(2 * time.Second),
		Overall:     durationpb.New(20 * time.Second),
		WifiConnect: durationpb.New(5 * time.Second),
		StatusPoll:  durationpb.New(50 * time.Millisecond),
	}
}

func provisionReq(addr string, sec *espprovv1.Security, ssid, pass string) *espprovv1.ProvisionRequest {
	return &espprovv1.ProvisionRequest{
		Device:   &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: addr},
		Security: sec,
		Wifi:     &espprovv1.WifiCredentials{Ssid: ssid, Passphrase: pass},
		Timeouts: fastTimeouts(),
	}
}

// collect runs Provision and returns every event and the final status.
func collect(t testing.TB, c espprovv1.ProvisioningServiceClient, req *espprovv1.ProvisionRequest) ([]*espprovv1.ProvisionResponse, error) {
	t.Helper()
	return collectCtx(context.Background(), t, c, req)
}

// collectCtx is collect with a parent context (for call metadata).
func collectCtx(ctx context.Context, t testing.TB, c espprovv1.ProvisioningServiceClient, req *espprovv1.ProvisionRequest) ([]*espprovv1.ProvisionResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stream, err := c.Provision(ctx, req)
	if err != nil {
		return nil, err
	}
	var events []*espprovv1.ProvisionResponse
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return events, nil
		}
		if err != nil {
			return events, err
		}
		events = append(events, ev)
	}
}

func steps(events []*espprovv1.ProvisionResponse) []espprovv1.Step {
	var out []espprovv1.Step
	for _, e := range events {
		out = append(out, e.GetStep())
	}
	return out
}

func lastResult(t testing.TB, events []*espprovv1.ProvisionResponse) *espprovv1.Result {
	t.Helper()
	if len(events) == 0 || events[len(events)-1].GetStep() != espprovv1.Step_STEP_RESULT {
		t.Fatalf("stream did not end with a result: %v", steps(events))
	}
	return events[len(events)-1].GetResult()
}

func TestProvisionSecuritySchemes(t *testing.T) {
	h := startServer(t)
	tests := []struct {
		name   string
		cfg    device.Config
		sec    *espprovv1.Security
		scheme espprovv1.SecurityScheme
		patch  uint32
	}{
		{"security 0", device.Config{SecVer: 0}, nil, espprovv1.SecurityScheme_SECURITY_SCHEME_0, 0},
		{"security 1 with pop", device.Config{SecVer: 1, PoP: testPoP}, &espprovv1.Security{Pop: testPoP}, espprovv1.SecurityScheme_SECURITY_SCHEME_1, 0},
		{"security 1 no_pop", device.Config{SecVer: 1}, nil, espprovv1.SecurityScheme_SECURITY_SCHEME_1, 0},
		{"security 2 patch 1", device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: testUser, SRPPassword: testPoP},
			&espprovv1.Security{Sec2Username: testUser, Sec2Password: testPoP}, espprovv1.SecurityScheme_SECURITY_SCHEME_2, 1},
		{"security 2 patch 0", device.Config{SecVer: 2, SecPatchVer: 0, SRPUsername: testUser, SRPPassword: testPoP},
			&espprovv1.Security{Sec2Username: testUser, Sec2Password: testPoP}, espprovv1.SecurityScheme_SECURITY_SCHEME_2, 0},
		{"security 2 requested explicitly", device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: testUser, SRPPassword: testPoP},
			&espprovv1.Security{Scheme: espprovv1.SecurityScheme_SECURITY_SCHEME_2, Sec2Username: testUser, Sec2Password: testPoP}, espprovv1.SecurityScheme_SECURITY_SCHEME_2, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := startDevice(t, tc.cfg, simhttpd.Options{})
			events, err := collect(t, h.client, provisionReq(d.addr, tc.sec, testSSID, testPass))
			if err != nil {
				t.Fatalf("Provision: %v (events %v)", err, steps(events))
			}
			res := lastResult(t, events)
			if !res.GetSuccess() || res.GetIp4Address() != d.dev.Config().StationIP || res.GetSsid() != testSSID {
				t.Fatalf("result = %v, want success with IP %s", res, d.dev.Config().StationIP)
			}
			var info *espprovv1.DeviceInfo
			sawConnected := false
			for _, e := range events {
				if e.GetDeviceInfo() != nil {
					info = e.GetDeviceInfo()
				}
				if e.GetWifiState().GetState() == espprovv1.WifiStationState_WIFI_STATION_STATE_CONNECTED {
					sawConnected = true
				}
			}
			if info.GetSecurity() != tc.scheme || info.GetSecPatchVer() != tc.patch {
				t.Errorf("device info = %v, want scheme %v patch %d", info, tc.scheme, tc.patch)
			}
			if !sawConnected {
				t.Errorf("no connected Wi-Fi state event: %v", steps(events))
			}
			want := []espprovv1.Step{espprovv1.Step_STEP_CONNECTING, espprovv1.Step_STEP_SECURITY_DETECTED, espprovv1.Step_STEP_SESSION_ESTABLISHED,
				espprovv1.Step_STEP_CREDENTIALS_SENT, espprovv1.Step_STEP_CONFIG_APPLIED}
			got := steps(events)
			for i, s := range want {
				if i >= len(got) || got[i] != s {
					t.Fatalf("steps = %v, want prefix %v", got, want)
				}
			}
			for _, e := range events {
				if strings.Contains(e.String(), testPass) || strings.Contains(e.String(), testPoP) {
					t.Fatalf("event leaks a secret: %v", e)
				}
			}
		})
	}
}

func TestProvisionWrongCredentials(t *testing.T) {
	h := startServer(t)
	tests := []struct {
		name      string
		cfg       device.Config
		bad, good *espprovv1.Security
	}{
		{"wrong pop", device.Config{SecVer: 1, PoP: testPoP}, &espprovv1.Security{Pop: "wrong-pop"}, &espprovv1.Security{Pop: testPoP}},
		{"wrong srp password", device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: testUser, SRPPassword: testPoP},
			&espprovv1.Security{Sec2Username: testUser, Sec2Password: "wrong"}, &espprovv1.Security{Sec2Username: testUser, Sec2Password: testPoP}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := startDevice(t, tc.cfg, simhttpd.Options{})
			events, err := collect(t, h.client, provisionReq(d.addr, tc.bad, testSSID, testPass))
			st := status.Convert(err)
			if st.Code() != codes.PermissionDenied || !strings.Contains(st.Message(), "rejected the proof of possession or credentials") {
				t.Fatalf("status = %v, want PermissionDenied saying the credentials were rejected", err)
			}
			if strings.Contains(st.Message(), "wrong") {
				t.Errorf("error leaks the secret: %q", st.Message())
			}
			if res := lastResult(t, events); res.GetSuccess() || res.GetErrorCode() != "PermissionDenied" {
				t.Errorf("result = %v", res)
			}
			if d.dev.Stats().Exchanges["prov-config"] != 0 {
				t.Errorf("credentials reached the device after a rejected handshake")
			}
			// The device stays provisionable.
			events, err = collect(t, h.client, provisionReq(d.addr, tc.good, testSSID, testPass))
			if err != nil || !lastResult(t, events).GetSuccess() {
				t.Fatalf("retry with the right secret: %v", err)
			}
		})
	}
}

func TestProvisionWifiFailures(t *testing.T) {
	h := startServer(t)
	tests := []struct {
		name       string
		ssid, pass string
		reason     espprovv1.WifiFailReason
	}{
		{"wrong passphrase", testSSID, "not-the-pass", espprovv1.WifiFailReason_WIFI_FAIL_REASON_AUTH_ERROR},
		{"unknown ssid", "NoSuchNet", testPass, espprovv1.WifiFailReason_WIFI_FAIL_REASON_NETWORK_NOT_FOUND},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := startDevice(t, device.Config{SecVer: 1, PoP: testPoP}, simhttpd.Options{})
			sec := &espprovv1.Security{Pop: testPoP}
			events, err := collect(t, h.client, provisionReq(d.addr, sec, tc.ssid, tc.pass))
			if status.Code(err) != codes.FailedPrecondition {
				t.Fatalf("status = %v, want FailedPrecondition", err)
			}
			res := lastResult(t, events)
			if res.GetSuccess() || res.GetFailReason() != tc.reason || !res.GetDeviceReset() {
				t.Fatalf("result = %v, want failed with %v and device reset", res, tc.reason)
			}
			sawFailState, sawReset := false, false
			for _, e := range events {
				if e.GetWifiState().GetState() == espprovv1.WifiStationState_WIFI_STATION_STATE_CONNECTION_FAILED && e.GetWifiState().GetFailReason() == tc.reason {
					sawFailState = true
				}
				sawReset = sawReset || e.GetStep() == espprovv1.Step_STEP_DEVICE_RESET
			}
			if !sawFailState || !sawReset {
				t.Fatalf("events %v: fail state %t, reset %t", steps(events), sawFailState, sawReset)
			}
			// Reset through prov-ctrl: the device can be provisioned again.
			events, err = collect(t, h.client, provisionReq(d.addr, sec, testSSID, testPass))
			if err != nil || !lastResult(t, events).GetSuccess() {
				t.Fatalf("provisioning after reset: %v %v", err, steps(events))
			}
		})
	}
}

func TestProvisionBadRequests(t *testing.T) {
	h := startServer(t)
	d := startDevice(t, device.Config{SecVer: 1, PoP: testPoP}, simhttpd.Options{})
	dev := func(tr espprovv1.Transport, addr string) *espprovv1.Device {
		return &espprovv1.Device{Transport: tr, Address: addr}
	}
	httpd := espprovv1.Transport_TRANSPORT_HTTPD
	wifi := &espprovv1.WifiCredentials{Ssid: testSSID, Passphrase: testPass}
	// A port nobody listens on.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := l.Addr().String()
	l.Close()
	tests := []struct {
		name       string
		req        *espprovv1.ProvisionRequest
		code       codes.Code
		msg        string
		sessionsOK bool // whether proto-ver may be read
	}{
		{"missing transport", &espprovv1.ProvisionRequest{Device: &espprovv1.Device{Address: d.addr}, Wifi: wifi}, codes.InvalidArgument, "device.transport is required", false},
		{"unknown transport", &espprovv1.ProvisionRequest{Device: dev(espprovv1.Transport(42), d.addr), Wifi: wifi}, codes.InvalidArgument, "not a known transport", false},
		{"missing ssid", &espprovv1.ProvisionRequest{Device: dev(httpd, d.addr)}, codes.InvalidArgument, "wifi.ssid is required", false},
		{"ssid too long", &espprovv1.ProvisionRequest{Device: dev(httpd, d.addr), Wifi: &espprovv1.WifiCredentials{Ssid: strings.Repeat("s", 33)}}, codes.InvalidArgument, "at most 32", false},
		{"passphrase too long", &espprovv1.ProvisionRequest{Device: dev(httpd, d.addr), Wifi: &espprovv1.WifiCredentials{Ssid: "x", Passphrase: strings.Repeat("p", 65)}}, codes.InvalidArgument, "8 to 63", false},
		{"httpd without address", &espprovv1.ProvisionRequest{Device: dev(httpd, ""), Wifi: wifi}, codes.InvalidArgument, "device.address is required", false},
		{"malformed address", &espprovv1.ProvisionRequest{Device: dev(httpd, "127.0.0.1"), Wifi: wifi}, codes.InvalidArgument, "not host:port", false},
		{"port out of range", &espprovv1.ProvisionRequest{Device: dev(httpd, "127.0.0.1:70000"), Wifi: wifi}, codes.InvalidArgument, "port must be", false},
		{"negative timeout", &espprovv1.ProvisionRequest{Device: dev(httpd, d.addr), Wifi: wifi, Timeouts: &espprovv1.Timeouts{Exchange: durationpb.New(-time.Second)}}, codes.InvalidArgument, "must not be negative", false},
		{"bad scheme", &espprovv1.ProvisionRequest{Device: dev(httpd, d.addr), Wifi: wifi, Security: &espprovv1.Security{Scheme: 9}}, codes.InvalidArgument, "not valid", false},
		{"sec2 without credentials", &espprovv1.ProvisionRequest{Device: dev(httpd, d.addr), Wifi: wifi, Security: &espprovv1.Security{Scheme: espprovv1.SecurityScheme_SECURITY_SCHEME_2}}, codes.InvalidArgument, "sec2_username", false},
		{"sec1 without pop, device lacks no_pop", &espprovv1.ProvisionRequest{Device: dev(httpd, d.addr), Wifi: wifi}, codes.InvalidArgument, "pass security.pop", true},
		{"unreachable", &espprovv1.ProvisionRequest{Device: dev(httpd, closedAddr), Wifi: wifi, Security: &espprovv1.Security{Pop: testPoP}}, codes.Unavailable, "cannot reach", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := d.dev.Stats()
			_, err := collect(t, h.client, tc.req)
			st := status.Convert(err)
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Fatalf("status = %v %q, want %v containing %q", st.Code(), st.Message(), tc.code, tc.msg)
			}
			after := d.dev.Stats()
			for _, ep := range []string{"prov-session", "prov-config", "prov-scan", "prov-ctrl"} {
				if after.Exchanges[ep] != before.Exchanges[ep] {
					t.Errorf("request reached the device's %s endpoint", ep)
				}
			}
			if !tc.sessionsOK && after.Exchanges["proto-ver"] != before.Exchanges["proto-ver"] {
				t.Errorf("request reached the device at all")
			}
		})
	}
}

// stableGoroutines waits until the goroutine count drops to at most n.
func stableGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines leaked: %d > %d\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestProvisionDeviceFaults(t *testing.T) {
	h := startServer(t)
	tests := []struct {
		name string
		// fault applies to the n-th prov-session exchange and, with sticky,
		// to every exchange after it (the device is gone).
		fault  simhttpd.Fault
		n      int32
		sticky bool
		code   codes.Code
	}{
		{"stall at command0", simhttpd.FaultStall, 1, false, codes.DeadlineExceeded},
		{"stall at command1", simhttpd.FaultStall, 2, false, codes.DeadlineExceeded},
		{"close at command0", simhttpd.FaultClose, 1, false, codes.Unavailable},
		{"link lost at command1", simhttpd.FaultClose, 2, true, codes.Unavailable},
		{"garbage at command0", simhttpd.FaultGarbage, 1, false, codes.Unavailable},
		{"garbage at command1", simhttpd.FaultGarbage, 2, false, codes.Unavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			var sessionCalls atomic.Int32
			var gone atomic.Bool
			d := startDevice(t, device.Config{SecVer: 1, PoP: testPoP}, simhttpd.Options{Fault: func(ep string, _ []byte) simhttpd.Fault {
				if gone.Load() {
					return tc.fault
				}
				if ep == "prov-session" && sessionCalls.Add(1) == tc.n {
					gone.Store(tc.sticky)
					return tc.fault
				}
				return simhttpd.FaultNone
			}})
			req := provisionReq(d.addr, &espprovv1.Security{Pop: testPoP}, testSSID, testPass)
			req.Timeouts.Exchange = durationpb.New(300 * time.Millisecond)
			start := time.Now()
			_, err := collect(t, h.client, req)
			if status.Code(err) != tc.code {
				t.Fatalf("status = %v, want %v", err, tc.code)
			}
			if el := time.Since(start); el > 3*time.Second {
				t.Errorf("took %s, want about the 300ms exchange timeout", el)
			}
			_ = d.srv.Close() // the simulator's own stalled goroutines
			stableGoroutines(t, base)
		})
	}
}

func TestScanWifi(t *testing.T) {
	h := startServer(t)
	d := startDevice(t, device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: testUser, SRPPassword: testPoP}, simhttpd.Options{})
	resp, err := h.client.ScanWifi(context.Background(), &espprovv1.ScanWifiRequest{
		Device:   &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: d.addr},
		Security: &espprovv1.Security{Sec2Username: testUser, Sec2Password: testPoP},
		Timeouts: fastTimeouts(),
	})
	if err != nil {
		t.Fatal(err)
	}
	aps := resp.GetAccessPoints()
	if len(aps) != len(testAPs) {
		t.Fatalf("got %d APs, want %d", len(aps), len(testAPs))
	}
	if aps[0].GetSsid() != testSSID || aps[0].GetRssi() != -40 || aps[0].GetChannel() != 6 || aps[0].GetAuth() != espprovv1.WifiAuthMode_WIFI_AUTH_MODE_WPA2_PSK {
		t.Errorf("strongest AP = %v", aps[0])
	}
	if aps[2].GetSsid() != "CafeOpen" || aps[2].GetAuth() != espprovv1.WifiAuthMode_WIFI_AUTH_MODE_OPEN {
		t.Errorf("weakest AP = %v", aps[2])
	}
	if len(strings.Split(aps[0].GetBssid(), ":")) != 6 {
		t.Errorf("bssid %q not colon-separated", aps[0].GetBssid())
	}
}

func TestTransportNotInThisBuild(t *testing.T) {
	svc := provisioning.New(provisioning.Config{Modules: map[espprovv1.Transport]provisioning.Module{
		espprovv1.Transport_TRANSPORT_HTTPD: provisioning.HTTPModule{}}})
	srv, err := server.Start(context.Background(), server.Options{GRPCListen: "127.0.0.1:0", Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = collect(t, espprovv1.NewProvisioningServiceClient(conn), &espprovv1.ProvisionRequest{
		Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_CONSOLE, SerialPort: "/dev/null"},
		Wifi:   &espprovv1.WifiCredentials{Ssid: "x"},
	})
	if status.Code(err) != codes.Unimplemented || !strings.Contains(status.Convert(err).Message(), "not available") {
		t.Fatalf("console on an httpd-only server: %v", err)
	}
}

func TestProvisionInteractiveRetryOnSameSession(t *testing.T) {
	h := startServer(t)
	d := startDevice(t, device.Config{SecVer: 1, PoP: testPoP}, simhttpd.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := h.client.ProvisionInteractive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := provisionReq(d.addr, &espprovv1.Security{Pop: testPoP}, testSSID, "wrong-passphrase")
	if err := stream.Send(&espprovv1.ProvisionInteractiveRequest{Action: &espprovv1.ProvisionInteractiveRequest_Start{Start: req}}); err != nil {
		t.Fatal(err)
	}
	var got []espprovv1.Step
	retried := false
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("stream: %v (steps %v)", err, got)
		}
		ev := resp.GetEvent()
		got = append(got, ev.GetStep())
		if ev.GetStep() == espprovv1.Step_STEP_AWAITING_RETRY {
			if retried {
				t.Fatal("asked to retry twice")
			}
			retried = true
			if ev.GetResult().GetFailReason() != espprovv1.WifiFailReason_WIFI_FAIL_REASON_AUTH_ERROR {
				t.Errorf("awaiting-retry event lacks the fail reason: %v", ev)
			}
			err := stream.Send(&espprovv1.ProvisionInteractiveRequest{Action: &espprovv1.ProvisionInteractiveRequest_Retry{
				Retry: &espprovv1.WifiCredentials{Ssid: testSSID, Passphrase: testPass}}})
			if err != nil {
				t.Fatal(err)
			}
		}
		if r := ev.GetResult(); ev.GetStep() == espprovv1.Step_STEP_RESULT && !r.GetSuccess() {
			t.Fatalf("final result failed: %v", r)
		}
	}
	if !retried || got[len(got)-1] != espprovv1.Step_STEP_RESULT {
		t.Fatalf("steps %v", got)
	}
	// One handshake only: the retry reused the secure session.
	if n := d.dev.Stats().HandshakesCompleted; n != 1 {
		t.Errorf("handshakes = %d, want 1 (retry on the same session)", n)
	}
}

func TestProvisionInteractiveGiveUp(t *testing.T) {
	h := startServer(t)
	d := startDevice(t, device.Config{SecVer: 0}, simhttpd.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := h.client.ProvisionInteractive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = stream.Send(&espprovv1.ProvisionInteractiveRequest{Action: &espprovv1.ProvisionInteractiveRequest_Start{
		Start: provisionReq(d.addr, nil, "NoSuchNet", testPass)}})
	for {
		resp, err := stream.Recv()
		if err != nil {
			if status.Code(err) != codes.FailedPrecondition {
				t.Fatalf("end = %v, want FailedPrecondition", err)
			}
			return
		}
		if resp.GetEvent().GetStep() == espprovv1.Step_STEP_AWAITING_RETRY {
			_ = stream.Send(&espprovv1.ProvisionInteractiveRequest{Action: &espprovv1.ProvisionInteractiveRequest_GiveUp{GiveUp: true}})
		}
	}
}

// TestConcurrentCallsToOneDevice: a device serves one secure session at a
// time, so a second call to the same device while one runs is refused with
// Aborted instead of silently breaking the first.
func TestConcurrentCallsToOneDevice(t *testing.T) {
	h := startServer(t)
	d := startDevice(t, device.Config{SecVer: 0, ScanDuration: 700 * time.Millisecond}, simhttpd.Options{})
	req := &espprovv1.ScanWifiRequest{Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: d.addr}, Timeouts: fastTimeouts()}
	first := make(chan error, 1)
	go func() {
		_, err := h.client.ScanWifi(context.Background(), req)
		first <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for d.dev.Stats().Exchanges["prov-scan"] == 0 {
		if time.Now().After(deadline) {
			t.Fatal("first scan did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, err := h.client.ScanWifi(context.Background(), req)
	if status.Code(err) != codes.Aborted {
		t.Fatalf("second call: %v, want Aborted", err)
	}
	if err := <-first; err != nil {
		t.Fatalf("first call broken by the second: %v", err)
	}
	if _, err := h.client.ScanWifi(context.Background(), req); err != nil {
		t.Fatalf("after the first ended: %v", err)
	}
}
