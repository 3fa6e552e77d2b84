package cli

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/netnstest"
	simcloud "github.com/espprov/espprov/internal/sim/cloud"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
	simonnetwork "github.com/espprov/espprov/internal/sim/onnetwork"
	simrmaker "github.com/espprov/espprov/internal/sim/rmaker"
	"github.com/espprov/espprov/transports/onnetwork"
)

// listenDevice serves a simulated Security 1 device over HTTP on addr.
func listenDevice(t *testing.T, addr string) (*device.Device, string) {
	t.Helper()
	dev, srv, err := simhttpd.ListenDevice(addr, device.Config{SecVer: 1, PoP: testPoP, APs: testAPs, ConnectDelay: 20 * time.Millisecond}, simhttpd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	_, port, _ := net.SplitHostPort(srv.Addr().String())
	return dev, port
}

// --device-host NAME.local is resolved by a one-shot multicast DNS query,
// not the system resolver (which has no nss-mdns here), against Debian's
// avahi-daemon announcing the host name and a challenge-response service;
// in-process and through espprovd. A name nobody answers fails with the
// name, the interfaces asked and the time waited.
func TestDeviceHostLocalAvahi(t *testing.T) {
	if !netnstest.Run(t) {
		return
	}
	_, port := listenDevice(t, "127.0.0.1:0")
	netnstest.StartAvahi(t, netnstest.AvahiConfig{HostName: "espdevice", Services: []netnstest.AvahiService{
		{Name: "ESPNODE", Type: onnetwork.ServiceType, Port: 8080, TXT: []string{"node_id=ESPNODE", "sec_version=1"}}}})
	remote := startServer(t)
	for _, extra := range [][]string{nil, {"--server", remote}} {
		// A fresh device for each run (auto-stop after success).
		_, port = listenDevice(t, "127.0.0.1:0")
		args := append([]string{"provision", "--transport", "httpd", "--device-host", "espdevice.local", "--device-port", port,
			"--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass, "--no-input"}, extra...)
		r := runCLI(t, nil, "", args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Wi-Fi Provisioning Successful") {
			t.Fatalf("provision %v: exit %d\n%s\n%s", extra, r.code, r.stdout, r.stderr)
		}
	}
	r := runCLI(t, nil, "", "provision", "--transport", "httpd", "--device-host", "nobody-here.local", "--device-port", port,
		"--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass, "--no-input")
	if r.code != ExitDevice {
		t.Fatalf("unknown .local name: exit %d, want %d\n%s", r.code, ExitDevice, r.stderr)
	}
	for _, want := range []string{`"nobody-here.local"`, "interfaces lo", "after "} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

// The same against our simulator's responder (brutella/dnssd), which
// announces the node id as host name with the device's listening address.
func TestDeviceHostLocalSimulator(t *testing.T) {
	if !netnstest.Run(t) {
		return
	}
	dev, port := listenDevice(t, "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	svc, err := simonnetwork.Start(ctx, dev, simonnetwork.Options{NodeID: "SIMNODE42", ListenAddr: "127.0.0.1:0", Security: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	r := runCLI(t, nil, "", "provision", "--transport", "httpd", "--device-host", "simnode42.local", "--device-port", port,
		"--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass, "--no-input")
	if r.code != 0 || !strings.Contains(r.stdout, "Wi-Fi Provisioning Successful") {
		t.Fatalf("provision: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// On-network mapping with --device-host NAME.local, where NAME is announced
// by avahi-daemon (the device's own service runs without mDNS): the one-shot
// query finds the host, the browse finds avahi's service record.
func TestOnNetworkDeviceHostLocalAvahi(t *testing.T) {
	if !netnstest.Run(t) {
		return
	}
	cloud := simcloud.New(simcloud.Options{})
	t.Cleanup(cloud.Close)
	userID := cloud.AddUser(cloudUser, cloudPass)
	env := loggedIn(t, cloud)
	dev, err := device.New(device.Config{SecVer: 1})
	if err != nil {
		t.Fatal(err)
	}
	node := simrmaker.Install(dev, simrmaker.Options{NodeID: dev.Config().NodeID, ChalResp: true})
	cloud.RegisterNode(node.NodeID(), node.PublicKey())
	svc, err := simonnetwork.Start(context.Background(), dev, simonnetwork.Options{NodeID: node.NodeID(), Security: 1,
		ListenAddr: "127.0.0.1:0", NoMDNS: true, ChalRespDisabled: node.Disabled})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	port := strconv.Itoa(svc.Port())
	netnstest.StartAvahi(t, netnstest.AvahiConfig{HostName: "espnode", Services: []netnstest.AvahiService{
		{Name: node.NodeID(), Type: onnetwork.ServiceType, Port: svc.Port(), TXT: []string{"node_id=" + node.NodeID(), "sec_version=1", "pop_required=false"}}}})
	r := runCLI(t, env, "", "provision", "--transport", "on-network", "--device-host", "espnode.local", "--device-port", port, "--discovery-timeout", "3")
	if r.code != 0 || !strings.Contains(r.stdout, "mapped to your account successfully") {
		t.Fatalf("provision: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if n, _ := cloud.Node(node.NodeID()); n.UserID != userID {
		t.Fatalf("cloud node %+v, want mapped to %s", n, userID)
	}
}
