package provisioning_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/rainmaker"
	"github.com/espprov/espprov/internal/server"
	"github.com/espprov/espprov/internal/sim/bluez"
	simcloud "github.com/espprov/espprov/internal/sim/cloud"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
	simonnetwork "github.com/espprov/espprov/internal/sim/onnetwork"
	simrmaker "github.com/espprov/espprov/internal/sim/rmaker"
	"github.com/espprov/espprov/services/provisioning"
)

const (
	cloudUser = "maker@example.com"
	cloudPass = "cloud-Secret-123"
)

// syncBuffer collects the server's log output for the secrets check.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type rmHarness struct {
	*harness
	cloud  *simcloud.Cloud
	userID string
	logs   *syncBuffer
}

// startMappingServer runs a simulated RainMaker cloud and a server whose
// configured account is cloudUser (serverCreds false: no server account).
func startMappingServer(t *testing.T, serverCreds bool) *rmHarness {
	t.Helper()
	cloud := simcloud.New(simcloud.Options{})
	t.Cleanup(cloud.Close)
	userID := cloud.AddUser(cloudUser, cloudPass)
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cc := provisioning.CloudConfig{Server: rainmaker.ServerConfig{BaseURL: cloud.URL()},
		Client: rainmaker.Config{MaxAttempts: 2, Backoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond, Logger: log, SkipRegionCheck: true}}
	if serverCreds {
		cc.Server.Credentials = rainmaker.Credentials{Username: cloudUser, Password: cloudPass}
	}
	svc := provisioning.New(provisioning.Config{Modules: provisioning.DefaultModules(), Logger: log, Cloud: cc})
	srv, err := server.Start(context.Background(), server.Options{GRPCListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", Service: svc, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		_ = srv.Shutdown(context.Background())
	})
	return &rmHarness{harness: &harness{srv: srv, conn: conn, client: espprovv1.NewProvisioningServiceClient(conn)}, cloud: cloud, userID: userID, logs: logs}
}

type rmDevice struct {
	*simDevice
	node *simrmaker.Node
}

// startRMDevice is a Security 1 RainMaker device registered with the cloud.
func startRMDevice(t *testing.T, h *rmHarness, opts simrmaker.Options) *rmDevice {
	t.Helper()
	var online atomic.Pointer[simrmaker.Node] // set after the device already serves
	cfg := device.Config{SecVer: 1, PoP: testPoP, OnConnected: func() {
		if n := online.Load(); n != nil {
			n.Online(h.cloud)
		}
	}}
	d := startDevice(t, cfg, simhttpd.Options{})
	opts.NodeID = d.dev.Config().NodeID
	node := simrmaker.Install(d.dev, opts)
	online.Store(node)
	h.cloud.RegisterNode(node.NodeID(), node.PublicKey())
	return &rmDevice{simDevice: d, node: node}
}

func mappingReq(addr string) *espprovv1.ProvisionRequest {
	req := provisionReq(addr, &espprovv1.Security{Pop: testPoP}, testSSID, testPass)
	meta, _ := structpb.NewStruct(map[string]any{"line": "A3", "batch": 42})
	req.Mapping = &espprovv1.Mapping{Enabled: true, Tags: []string{"location:pune", "floor:2"}, Metadata: meta,
		PollInterval: durationpb.New(20 * time.Millisecond), MaxWait: durationpb.New(5 * time.Second)}
	return req
}

func checkMapped(t *testing.T, h *rmHarness, nodeID string) {
	t.Helper()
	n, ok := h.cloud.Node(nodeID)
	if !ok || n.UserID != h.userID {
		t.Fatalf("cloud node %s: %+v, want mapped to %s", nodeID, n, h.userID)
	}
	if strings.Join(n.Tags, ",") != "location:pune,floor:2" || n.Metadata["line"] != "A3" {
		t.Errorf("cloud tags/metadata = %v %v", n.Tags, n.Metadata)
	}
}

func TestProvisionWithMapping(t *testing.T) {
	h := startMappingServer(t, true)
	tests := []struct {
		name string
		opts simrmaker.Options
		flow espprovv1.MappingFlow
	}{
		{"challenge-response rsa", simrmaker.Options{ChalResp: true, KeyType: simrmaker.KeyRSA2048}, espprovv1.MappingFlow_MAPPING_FLOW_CHALLENGE_RESPONSE},
		{"challenge-response ecdsa", simrmaker.Options{ChalResp: true, KeyType: simrmaker.KeyECP256}, espprovv1.MappingFlow_MAPPING_FLOW_CHALLENGE_RESPONSE},
		{"traditional", simrmaker.Options{}, espprovv1.MappingFlow_MAPPING_FLOW_TRADITIONAL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := startRMDevice(t, h, tc.opts)
			events, err := collect(t, h.client, mappingReq(d.addr))
			if err != nil {
				t.Fatalf("Provision: %v (%v)", err, steps(events))
			}
			res := lastResult(t, events)
			if !res.GetSuccess() || !res.GetMapped() || res.GetNodeId() != d.node.NodeID() || res.GetIp4Address() == "" {
				t.Fatalf("result %v", res)
			}
			checkMapped(t, h, d.node.NodeID())
			// Order: challenge-response maps before Wi-Fi, traditional sends
			// user information before Wi-Fi and confirms after.
			firstMapping, creds := -1, -1
			for i, e := range events {
				if e.GetStep() == espprovv1.Step_STEP_MAPPING && firstMapping < 0 {
					firstMapping = i
					if e.GetMapping().GetFlow() != tc.flow {
						t.Errorf("flow %v, want %v", e.GetMapping().GetFlow(), tc.flow)
					}
				}
				if e.GetStep() == espprovv1.Step_STEP_CREDENTIALS_SENT {
					creds = i
				}
			}
			if firstMapping < 0 || firstMapping > creds {
				t.Errorf("mapping step %d not before credentials %d: %v", firstMapping, creds, steps(events))
			}
			if d.node.Disabled() {
				t.Error("challenge-response disabled by default over httpd (documented default: keep it)")
			}
		})
	}
	for _, secret := range []string{cloudPass, testPoP, testPass} {
		if strings.Contains(h.logs.String(), secret) {
			t.Fatalf("server log contains a secret %q", secret)
		}
	}
}

func TestMapNodeAndDisable(t *testing.T) {
	h := startMappingServer(t, true)
	d := startRMDevice(t, h, simrmaker.Options{ChalResp: true})
	dev := &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: d.addr}
	sec := &espprovv1.Security{Pop: testPoP}
	yes := true
	meta, _ := structpb.NewStruct(map[string]any{"line": "A3"})
	resp, err := h.client.MapNode(context.Background(), &espprovv1.MapNodeRequest{Device: dev, Security: sec, Timeouts: fastTimeouts(),
		Mapping: &espprovv1.Mapping{Tags: []string{"location:pune", "floor:2"}, Metadata: meta, DisableChalResp: &yes}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetNodeId() != d.node.NodeID() || !resp.GetChalRespDisabled() || !d.node.Disabled() {
		t.Fatalf("MapNode = %v, device disabled %t", resp, d.node.Disabled())
	}
	checkMapped(t, h, d.node.NodeID())
	if d.dev.Stats().Exchanges["prov-config"] != 0 {
		t.Error("MapNode touched Wi-Fi")
	}
	// A disabled device: mapping is refused with FailedPrecondition, and a
	// second disable is reported as already disabled.
	_, err = h.client.MapNode(context.Background(), &espprovv1.MapNodeRequest{Device: dev, Security: sec, Timeouts: fastTimeouts()})
	if st := status.Convert(err); st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), "disabled") {
		t.Fatalf("MapNode on a disabled device: %v", err)
	}
	dr, err := h.client.DisableChallengeResponse(context.Background(), &espprovv1.DisableChallengeResponseRequest{Device: dev, Security: sec, Timeouts: fastTimeouts()})
	if err != nil || !dr.GetAlreadyDisabled() || dr.GetDisabledNow() {
		t.Fatalf("DisableChallengeResponse again: %v %v", dr, err)
	}
	d.node.Enable()
	dr, err = h.client.DisableChallengeResponse(context.Background(), &espprovv1.DisableChallengeResponseRequest{Device: dev, Security: sec, Timeouts: fastTimeouts()})
	if err != nil || !dr.GetDisabledNow() || !d.node.Disabled() {
		t.Fatalf("DisableChallengeResponse: %v %v", dr, err)
	}
}

func TestMappingFailures(t *testing.T) {
	h := startMappingServer(t, true)
	tests := []struct {
		name    string
		opts    simrmaker.Options
		setup   func(d *rmDevice)
		ctx     func() context.Context
		req     func(addr string) *espprovv1.ProvisionRequest
		code    codes.Code
		msg     string
		touched bool // whether the device may have seen prov-session
	}{
		{"bad tag", simrmaker.Options{ChalResp: true}, nil, nil, func(a string) *espprovv1.ProvisionRequest {
			r := mappingReq(a)
			r.Mapping.Tags = []string{"nocolon"}
			return r
		}, codes.InvalidArgument, "key:value", false},
		{"empty tag value", simrmaker.Options{ChalResp: true}, nil, nil, func(a string) *espprovv1.ProvisionRequest {
			r := mappingReq(a)
			r.Mapping.Tags = []string{"k:"}
			return r
		}, codes.InvalidArgument, "key:value", false},
		{"node not claimed", simrmaker.Options{ChalResp: true, NeedsClaim: true}, nil, nil, mappingReq, codes.FailedPrecondition, "claim", false},
		{"no-wifi without ch_resp", simrmaker.Options{}, nil, nil, func(a string) *espprovv1.ProvisionRequest {
			r := mappingReq(a)
			r.NoWifi, r.Wifi = true, nil
			return r
		}, codes.FailedPrecondition, "challenge-response", false},
		{"wrong access token in metadata", simrmaker.Options{ChalResp: true}, nil, func() context.Context {
			return metadata.AppendToOutgoingContext(context.Background(), rainmaker.MDAccessToken, "not.a.token", rainmaker.MDIDToken, "not.a.token")
		}, mappingReq, codes.Unauthenticated, "", false},
		{"wrong password in metadata", simrmaker.Options{ChalResp: true}, nil, func() context.Context {
			return metadata.AppendToOutgoingContext(context.Background(), rainmaker.MDUsername, cloudUser, rainmaker.MDPassword, "wrong-password")
		}, mappingReq, codes.Unauthenticated, "", false},
		{"cloud 5xx beyond retries", simrmaker.Options{ChalResp: true}, func(d *rmDevice) { h.cloud.FailNext(50, 503) }, nil, mappingReq, codes.Unavailable, "", true},
		{"signature rejected", simrmaker.Options{ChalResp: true}, func(d *rmDevice) {
			other, _ := simrmaker.NewNode(simrmaker.Options{NodeID: "other"})
			h.cloud.RegisterNode(d.node.NodeID(), other.PublicKey())
		}, nil, mappingReq, codes.FailedPrecondition, "rejected the challenge response", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := startRMDevice(t, h, tc.opts)
			if tc.setup != nil {
				tc.setup(d)
			}
			defer h.cloud.FailNext(0, 0)
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx()
			}
			stream, err := h.client.Provision(ctx, tc.req(d.addr))
			if err == nil {
				for {
					if _, err = stream.Recv(); err != nil {
						break
					}
				}
			}
			st := status.Convert(err)
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Fatalf("status %v %q, want %v containing %q", st.Code(), st.Message(), tc.code, tc.msg)
			}
			if !tc.touched && d.dev.Stats().Exchanges["prov-session"] != 0 {
				t.Error("the device was contacted past proto-ver")
			}
			if d.dev.Stats().Exchanges["prov-config"] != 0 {
				t.Error("Wi-Fi credentials were sent")
			}
			if n, _ := h.cloud.Node(d.node.NodeID()); n.UserID != "" {
				t.Error("node mapped despite the failure")
			}
		})
	}
	for _, secret := range []string{cloudPass, "wrong-password", testPoP} {
		if strings.Contains(h.logs.String(), secret) {
			t.Fatalf("server log contains a secret %q", secret)
		}
	}
}

func TestMappingNeedsAccount(t *testing.T) {
	h := startMappingServer(t, false)
	d := startRMDevice(t, h, simrmaker.Options{ChalResp: true})
	_, err := collect(t, h.client, mappingReq(d.addr))
	if status.Code(err) != codes.Unauthenticated || !strings.Contains(status.Convert(err).Message(), "x-rainmaker") {
		t.Fatalf("no account: %v", err)
	}
	// The same call with a per-call refresh token succeeds.
	tok, err := h.cloud.Login(cloudUser, cloudPass)
	if err != nil {
		t.Fatal(err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), rainmaker.MDRefreshToken, tok.RefreshToken)
	stream, err := h.client.Provision(ctx, mappingReq(d.addr))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err = stream.Recv(); err != nil {
			break
		}
	}
	if err.Error() != "EOF" {
		t.Fatalf("with metadata credentials: %v", err)
	}
	checkMapped(t, h, d.node.NodeID())
	// A second call with the same account reuses the logged-in client:
	// the refresh token is exchanged once, not once per device.
	d2 := startRMDevice(t, h, simrmaker.Options{ChalResp: true})
	if _, err := h.client.MapNode(ctx, &espprovv1.MapNodeRequest{Timeouts: fastTimeouts(), Security: &espprovv1.Security{Pop: testPoP},
		Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: d2.addr}}); err != nil {
		t.Fatalf("second device: %v", err)
	}
	logins := 0
	for _, r := range h.cloud.Requests() {
		if strings.HasSuffix(r.Path, "/login2") {
			logins++
		}
	}
	if logins != 1 { // one refresh for both calls (cloud.Login above is not an HTTP call)
		t.Errorf("login2 requests = %d, want 1 (the per-call client is cached)", logins)
	}
	if strings.Contains(h.logs.String(), tok.RefreshToken) || strings.Contains(h.logs.String(), tok.AccessToken) {
		t.Fatal("server log contains a token")
	}
}

// TestOnNetworkMapping maps a device reached by IP over the on-network
// service (no mDNS needed: loopback only), with the documented default of
// disabling challenge-response afterwards.
func TestOnNetworkMapping(t *testing.T) {
	h := startMappingServer(t, true)
	for _, sec := range []int{0, 1, 2} {
		t.Run("security "+strconv.Itoa(sec), func(t *testing.T) {
			cfg := device.Config{SecVer: sec}
			var req *espprovv1.Security
			if sec == 0 { // without mDNS TXT data the security must be given, as with --sec_ver
				req = &espprovv1.Security{Scheme: espprovv1.SecurityScheme_SECURITY_SCHEME_0}
			}
			if sec == 2 {
				cfg.SecPatchVer, cfg.SRPUsername, cfg.SRPPassword = 1, testUser, testPoP
				req = &espprovv1.Security{Scheme: espprovv1.SecurityScheme_SECURITY_SCHEME_2, Sec2Username: testUser, Sec2Password: testPoP}
			}
			dev, err := device.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var svc *simonnetwork.Service
			node := simrmaker.Install(dev, simrmaker.Options{NodeID: dev.Config().NodeID, ChalResp: true})
			h.cloud.RegisterNode(node.NodeID(), node.PublicKey())
			svc, err = simonnetwork.Start(context.Background(), dev, simonnetwork.Options{NodeID: node.NodeID(), Security: sec,
				ListenAddr: "127.0.0.1:0", NoMDNS: true, ChalRespDisabled: node.Disabled})
			if err != nil {
				t.Fatal(err)
			}
			defer svc.Close()
			addr := net.JoinHostPort("127.0.0.1", itoa(svc.Port()))
			events, err := collect(t, h.client, &espprovv1.ProvisionRequest{
				Device:   &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_ON_NETWORK, Address: addr},
				Security: req, NoWifi: true, Timeouts: fastTimeouts(),
				Mapping: &espprovv1.Mapping{Tags: []string{"location:pune", "floor:2"}, Metadata: mustStruct(map[string]any{"line": "A3"})},
			})
			if err != nil {
				t.Fatalf("on-network provision: %v (%v)", err, steps(events))
			}
			if res := lastResult(t, events); !res.GetMapped() || res.GetNodeId() != node.NodeID() {
				t.Fatalf("result %v", res)
			}
			checkMapped(t, h, node.NodeID())
			if !node.Disabled() {
				t.Error("challenge-response not disabled after on-network mapping (documented default)")
			}
		})
	}
}

func mustStruct(m map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(m)
	if err != nil {
		panic(err)
	}
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestMappingExpiredTokens(t *testing.T) {
	h := startMappingServer(t, false)
	d := startRMDevice(t, h, simrmaker.Options{ChalResp: true})
	tok, err := h.cloud.Login(cloudUser, cloudPass)
	if err != nil {
		t.Fatal(err)
	}
	h.cloud.ExpireAccessTokens()
	h.cloud.RevokeRefreshTokens()
	tests := []struct {
		name string
		md   []string
	}{
		{"expired access token", []string{rainmaker.MDAccessToken, tok.AccessToken, rainmaker.MDIDToken, tok.IDToken}},
		{"revoked refresh token", []string{rainmaker.MDRefreshToken, tok.RefreshToken}},
	}
	for _, tc := range tests {
		ctx := metadata.AppendToOutgoingContext(context.Background(), tc.md...)
		stream, err := h.client.Provision(ctx, mappingReq(d.addr))
		if err == nil {
			for {
				if _, err = stream.Recv(); err != nil {
					break
				}
			}
		}
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s: %v, want Unauthenticated", tc.name, err)
		}
	}
	// A server-side expired access token is only discovered at the first
	// cloud call (initiate, right after the session): Wi-Fi is never sent.
	if n := d.dev.Stats().Exchanges["prov-config"]; n != 0 {
		t.Errorf("Wi-Fi credentials sent despite unusable cloud credentials")
	}
	for _, secret := range []string{tok.AccessToken, tok.RefreshToken, tok.IDToken} {
		if strings.Contains(h.logs.String(), secret) {
			t.Fatal("server log contains a token")
		}
	}
}

func TestBLEMapping(t *testing.T) {
	srv := startBlueZ(t)
	h := startMappingServer(t, true)
	var online atomic.Pointer[simrmaker.Node]
	dev := addBLEDevice(t, srv, "hci0", "PROV_RM", device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: testUser, SRPPassword: testPoP,
		OnConnected: func() {
			if n := online.Load(); n != nil {
				n.Online(h.cloud)
			}
		}}, bluez.DeviceConfig{})
	node := simrmaker.Install(dev, simrmaker.Options{NodeID: dev.Config().NodeID, ChalResp: true})
	online.Store(node)
	h.cloud.RegisterNode(node.NodeID(), node.PublicKey())
	req := mappingReq("")
	req.Device = &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_BLE, Name: "PROV_RM", DiscoveryTimeout: durationpb.New(3 * time.Second)}
	req.Security = &espprovv1.Security{Sec2Username: testUser, Sec2Password: testPoP}
	events, err := collect(t, h.client, req)
	if err != nil {
		t.Fatalf("Provision over BLE with mapping: %v (%v)", err, steps(events))
	}
	if res := lastResult(t, events); !res.GetSuccess() || !res.GetMapped() {
		t.Fatalf("result %v", res)
	}
	checkMapped(t, h, node.NodeID())
	if node.Disabled() {
		t.Error("challenge-response disabled over BLE by default")
	}
}

// TestMappingWithoutAssociationEndpoint: a device with neither ch_resp nor
// cloud_user_assoc (D9) gets Wi-Fi, is reported as not mapped, and no
// placeholder node id reaches the cloud. The 404 must not break the secure
// session for the Wi-Fi steps that follow.
func TestMappingWithoutAssociationEndpoint(t *testing.T) {
	h := startMappingServer(t, true)
	for _, tc := range []struct {
		name string
		cfg  device.Config
		sec  *espprovv1.Security
	}{
		{"security 1", device.Config{SecVer: 1, PoP: testPoP}, &espprovv1.Security{Pop: testPoP}},
		{"security 2", device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: testUser, SRPPassword: testPoP}, &espprovv1.Security{Sec2Username: testUser, Sec2Password: testPoP}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := startDevice(t, tc.cfg, simhttpd.Options{})
			req := mappingReq(d.addr)
			req.Security = tc.sec
			events, err := collect(t, h.client, req)
			if st := status.Convert(err); st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), "not added to the RainMaker account") {
				t.Fatalf("status %v, want FailedPrecondition: provisioned but not mapped", err)
			}
			res := lastResult(t, events)
			if res.GetIp4Address() != d.dev.Config().StationIP || res.GetMapped() || res.GetNodeId() != "" {
				t.Fatalf("result %v: want Wi-Fi done, not mapped, no node id", res)
			}
			if len(h.cloud.Mappings()) != 0 {
				t.Fatalf("cloud mappings %v", h.cloud.Mappings())
			}
		})
	}
}
