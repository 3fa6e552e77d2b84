package provisioning_test

import (
	"context"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/netnstest"
	"github.com/espprov/espprov/internal/sim/device"
	simonnetwork "github.com/espprov/espprov/internal/sim/onnetwork"
	simrmaker "github.com/espprov/espprov/internal/sim/rmaker"
)

func startOnNetwork(t *testing.T, cfg device.Config, opts simonnetwork.Options) (*device.Device, *simonnetwork.Service) {
	t.Helper()
	dev, err := device.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	opts.NodeID = dev.Config().NodeID
	opts.Security = cfg.SecVer
	svc, err := simonnetwork.Start(context.Background(), dev, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return dev, svc
}

// TestOnNetworkDiscover runs real multicast DNS inside a network namespace
// made for this test: Discover finds both device variants with their TXT data.
func TestOnNetworkDiscover(t *testing.T) {
	if !netnstest.Run(t) {
		return
	}
	h := startServer(t)
	sa, _ := startOnNetwork(t, device.Config{SecVer: 1}, simonnetwork.Options{Variant: simonnetwork.Standalone})
	lc, _ := startOnNetwork(t, device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: testUser, SRPPassword: testPoP},
		simonnetwork.Options{Variant: simonnetwork.LocalControl, SecPatchVer: 1})
	stream, err := h.client.Discover(context.Background(), &espprovv1.DiscoverRequest{
		Device:  &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_ON_NETWORK},
		Timeout: durationpb.New(2 * time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*espprovv1.DiscoverResponse{}
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[r.GetNodeId()] = r
	}
	a, b := got[sa.Config().NodeID], got[lc.Config().NodeID]
	if a == nil || b == nil || len(got) != 2 {
		t.Fatalf("Discover found %v", got)
	}
	if a.GetSecurity() != espprovv1.SecurityScheme_SECURITY_SCHEME_1 || a.GetPopRequired() || a.GetAddress() == "" {
		t.Errorf("standalone record %v", a)
	}
	if b.GetSecurity() != espprovv1.SecurityScheme_SECURITY_SCHEME_2 || b.GetAddress() == "" {
		t.Errorf("local control record %v", b)
	}
}

func TestOnNetworkRequestRules(t *testing.T) {
	h := startServer(t)
	tests := []struct {
		name string
		req  *espprovv1.ProvisionRequest
		code codes.Code
	}{
		{"wifi over on-network", &espprovv1.ProvisionRequest{Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_ON_NETWORK, Address: "127.0.0.1:80"},
			Wifi: &espprovv1.WifiCredentials{Ssid: "x"}}, codes.InvalidArgument},
	}
	for _, tc := range tests {
		if _, err := collect(t, h.client, tc.req); status.Code(err) != tc.code {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.code)
		}
	}
	_, err := h.client.ScanWifi(context.Background(), &espprovv1.ScanWifiRequest{Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_ON_NETWORK, Address: "127.0.0.1:80"}})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("ScanWifi over on-network: %v", err)
	}
}

// TestOnNetworkMapByName finds the device through real mDNS (in a test
// namespace) by its node id, then maps it with Security 2 patch 1.
func TestOnNetworkMapByName(t *testing.T) {
	if !netnstest.Run(t) {
		return
	}
	h := startMappingServer(t, true)
	dev, err := device.New(device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: testUser, SRPPassword: testPoP})
	if err != nil {
		t.Fatal(err)
	}
	node := simrmaker.Install(dev, simrmaker.Options{NodeID: dev.Config().NodeID, ChalResp: true, KeyType: simrmaker.KeyECP256})
	h.cloud.RegisterNode(node.NodeID(), node.PublicKey())
	svc, err := simonnetwork.Start(context.Background(), dev, simonnetwork.Options{NodeID: node.NodeID(), Security: 2, SecPatchVer: 1,
		ChalRespDisabled: node.Disabled})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	no := false
	resp, err := h.client.MapNode(context.Background(), &espprovv1.MapNodeRequest{
		Device:   &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_ON_NETWORK, Name: node.NodeID(), DiscoveryTimeout: durationpb.New(3 * time.Second)},
		Security: &espprovv1.Security{Sec2Username: testUser, Sec2Password: testPoP},
		Mapping:  &espprovv1.Mapping{DisableChalResp: &no},
		Timeouts: fastTimeouts(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetNodeId() != node.NodeID() || resp.GetChalRespDisabled() || node.Disabled() {
		t.Fatalf("MapNode = %v (disabled %t), want mapped and still enabled (explicit override)", resp, node.Disabled())
	}
	if n, _ := h.cloud.Node(node.NodeID()); n.UserID != h.userID {
		t.Fatalf("cloud node %+v", n)
	}
}

func TestDiscoverInvalidArguments(t *testing.T) {
	h := startServer(t)
	tests := []struct {
		name string
		req  *espprovv1.DiscoverRequest
	}{
		{"negative timeout", &espprovv1.DiscoverRequest{Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_ON_NETWORK}, Timeout: durationpb.New(-time.Second)}},
		{"no transport", &espprovv1.DiscoverRequest{}},
		{"unknown adapter name", &espprovv1.DiscoverRequest{Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_BLE, Adapter: "bt0"}}},
		{"malformed softap address", &espprovv1.DiscoverRequest{Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: "300.1.1.1"}}},
	}
	for _, tc := range tests {
		stream, err := h.client.Discover(context.Background(), tc.req)
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", tc.name, err)
		}
	}
	// A malformed IP for on-network is refused before any network traffic.
	_, err := collect(t, h.client, &espprovv1.ProvisionRequest{NoWifi: true,
		Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_ON_NETWORK, Address: "999.1.1.1:80"}})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("malformed on-network IP: %v", err)
	}
}
