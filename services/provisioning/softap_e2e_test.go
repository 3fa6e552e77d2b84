package provisioning_test

import (
	"context"
	"io"
	"net"
	"os/exec"
	"testing"
	"time"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/netnstest"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
)

// TestSoftAPDefaultAddress gives the soft-AP default address 192.168.4.1 to
// the loopback interface of a network namespace made for this test, serves a
// device on 192.168.4.1:80 there, and provisions it with the softap
// transport and no address: the default is used. Nothing leaves the namespace.
func TestSoftAPDefaultAddress(t *testing.T) {
	if !netnstest.Run(t) {
		return
	}
	if out, err := exec.Command("ip", "addr", "add", "192.168.4.1/32", "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("ip addr add: %v %s", err, out)
	}
	dev, err := device.New(device.Config{SecVer: 1, PoP: testPoP, APs: testAPs, ConnectDelay: 20 * time.Millisecond, CleanupDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "192.168.4.1:80")
	if err != nil {
		t.Fatal(err)
	}
	srv := simhttpd.New(dev, simhttpd.Options{})
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	h := startServer(t)

	stream, err := h.client.Discover(context.Background(), &espprovv1.DiscoverRequest{Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_SOFTAP}})
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
	if len(found) != 1 || found[0].GetAddress() != "192.168.4.1:80" || !found[0].GetPopRequired() || found[0].GetSecurity() != espprovv1.SecurityScheme_SECURITY_SCHEME_1 {
		t.Fatalf("Discover softap = %v", found)
	}

	req := provisionReq("", &espprovv1.Security{Pop: testPoP}, testSSID, testPass)
	req.Device = &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_SOFTAP}
	events, err := collect(t, h.client, req)
	if err != nil {
		t.Fatalf("Provision: %v (%v)", err, steps(events))
	}
	if res := lastResult(t, events); !res.GetSuccess() || res.GetIp4Address() != dev.Config().StationIP {
		t.Fatalf("result %v", res)
	}
}
