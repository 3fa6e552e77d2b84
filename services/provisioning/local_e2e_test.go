package provisioning_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/netnstest"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
	simonnetwork "github.com/espprov/espprov/internal/sim/onnetwork"
	"github.com/espprov/espprov/transports/onnetwork"
)

func listenSec1(t *testing.T, addr string) (*device.Device, string) {
	t.Helper()
	dev, srv, err := simhttpd.ListenDevice(addr, device.Config{SecVer: 1, PoP: testPoP, APs: testAPs, ConnectDelay: 20 * time.Millisecond}, simhttpd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	_, port, _ := net.SplitHostPort(srv.Addr().String())
	return dev, port
}

// Provision over gRPC (and REST for avahi) with device.address NAME.local:PORT: the name is
// resolved by multicast DNS against avahi-daemon (IPv4) and against our
// simulator announcing an IPv6 link-local address (dialled with its zone).
func TestProvisionLocalNames(t *testing.T) {
	if !netnstest.Run(t) {
		return
	}
	netnstest.AddLink(t, "dum0", "fe80::77/64")
	h := startServer(t)
	sec := &espprovv1.Security{Pop: testPoP}

	// avahi-daemon, IPv4 on lo.
	_, port := listenSec1(t, "127.0.0.1:0")
	netnstest.StartAvahi(t, netnstest.AvahiConfig{HostName: "espdevice", Services: []netnstest.AvahiService{
		{Name: "ESPNODE", Type: onnetwork.ServiceType, Port: 8080, TXT: []string{"node_id=ESPNODE"}}}})
	events, err := collect(t, h.client, provisionReq("espdevice.local:"+port, sec, testSSID, testPass))
	if err != nil || !lastResult(t, events).GetSuccess() {
		t.Fatalf("avahi name: %v %v", err, steps(events))
	}
	// The same through the REST gateway, on a fresh device.
	_, port = listenSec1(t, "127.0.0.1:0")
	body := `{"device":{"transport":"TRANSPORT_HTTPD","address":"espdevice.local:` + port + `"},"security":{"pop":"` + testPoP + `"},
	  "wifi":{"ssid":"` + testSSID + `","passphrase":"` + testPass + `"}}`
	resp, err := http.Post("http://"+h.srv.HTTPAddr()+"/v1/devices:provision", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(out), `"success":true`) {
		t.Fatalf("REST with a .local address: %s", out)
	}

	// Our simulator announcing only its IPv6 link-local listening address.
	dev, port := listenSec1(t, "[fe80::77%dum0]:0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	svc, err := simonnetwork.Start(ctx, dev, simonnetwork.Options{NodeID: "LLNODE", ListenAddr: "[fe80::77%dum0]:0", Security: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	events, err = collect(t, h.client, provisionReq("llnode.local:"+port, sec, testSSID, testPass))
	if err != nil || !lastResult(t, events).GetSuccess() {
		t.Fatalf("link-local name: %v %v", err, steps(events))
	}

	// Nobody answers: Unavailable naming the name, interfaces and time.
	req := provisionReq("ghost.local:"+port, sec, testSSID, testPass)
	_, err = collect(t, h.client, req)
	msg := status.Convert(err).Message()
	if status.Code(err) != codes.Unavailable || !strings.Contains(msg, `"ghost.local"`) || !strings.Contains(msg, "interfaces lo") || !strings.Contains(msg, "dum0") || !strings.Contains(msg, " after ") {
		t.Fatalf("unknown name: %v", err)
	}
}
