package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/server"
	simconsole "github.com/espprov/espprov/internal/sim/console"
	"github.com/espprov/espprov/internal/sim/device"
	"github.com/espprov/espprov/services/provisioning"
)

// TestHelpAndVersion: --help documents the exit codes and has examples;
// --version prints the version; both exit 0.
func TestHelpAndVersion(t *testing.T) {
	r := runCLI(t, nil, "", "--help")
	if r.code != 0 {
		t.Fatalf("--help: exit %d", r.code)
	}
	for _, want := range []string{"Exit codes:", "2    bad usage", "3    device or transport failure", "4    wrong credentials",
		"5    network failure", "6    cloud failure", "Examples:", "provision", "discover", "scan", "map", "disable-chal-resp", "login", "--server"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runCLI(t, nil, "", "provision", "--help")
	for _, want := range []string{"Exit codes:", "Examples:", "--pop", "--transport", "--sec_ver", "--sec2_username", "--sec2_password", "--device_name",
		"--ssid", "--passphrase", "--qrcode", "--no-wifi", "--no-retry", "--device-ip", "--device-host", "--device-port", "--discovery-timeout",
		"--disable-chal-resp", "--no-disable-chal-resp", "--tags", "--metadata", "--port", "--baud", "espprov provision abcd1234"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("provision --help lacks %q", want)
		}
	}
	if r.code != 0 {
		t.Errorf("provision --help: exit %d", r.code)
	}
	r = runCLI(t, nil, "", "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "espprov ") {
		t.Errorf("--version: exit %d, %q", r.code, r.stdout)
	}
}

// TestConsoleTransport provisions a simulated device over a real pty
// console with --port and --baud.
func TestConsoleTransport(t *testing.T) {
	dev, err := device.New(device.Config{SecVer: 1, PoP: testPoP, APs: testAPs, ConnectDelay: 20 * time.Millisecond, CleanupDelay: 50 * time.Millisecond,
		MAC: [6]byte{0x24, 0x0a, 0xc4, 0xaa, 0xbb, 0xcc}, StationIP: "192.168.1.77"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := simconsole.Serve(context.Background(), dev, simconsole.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	r := runCLI(t, nil, "", "provision", "--transport", "console", "--port", c.Path(), "--baud", "115200", "--sec_ver", "1", "--pop", testPoP,
		"--ssid", testSSID, "--passphrase", testPass, "--status-poll", "50ms")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"Using console transport. Make sure device is connected to serial port.", "Establishing session - Successful", "Wi-Fi Provisioning Successful"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runCLI(t, nil, "", "provision", "--transport", "console", "--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--port") {
		t.Errorf("console without --port: exit %d, %q", r.code, r.stderr)
	}
}

// selfSigned writes a CA-less self-signed server certificate for 127.0.0.1
// and name "espprovd.test".
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "espprovd.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"espprovd.test"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, path
}

// TestRemoteTLS: --server over TLS with --tls-ca and --tls-server-name;
// an untrusted server is refused; --tls-insecure skips verification.
func TestRemoteTLS(t *testing.T) {
	cert, caPath := selfSigned(t)
	svc := provisioning.New(provisioning.Config{Modules: provisioning.DefaultModules()})
	srv, err := server.Start(context.Background(), server.Options{GRPCListen: "127.0.0.1:0", Service: svc,
		GRPCOptions: []grpc.ServerOption{grpc.Creds(credentials.NewServerTLSFromCert(&cert))}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	scan := func(tlsArgs ...string) result {
		d := startDevice(t, sec1)
		args := append([]string{"--server", srv.GRPCAddr()}, tlsArgs...)
		return runCLI(t, nil, "", append(args, "scan", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d.port, "--pop", testPoP)...)
	}
	if r := scan("--tls-ca", caPath); r.code != 0 || !strings.Contains(r.stdout, "HomeNet") {
		t.Errorf("--tls-ca: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := scan("--tls-ca", caPath, "--tls-server-name", "espprovd.test"); r.code != 0 {
		t.Errorf("--tls-server-name: exit %d\n%s", r.code, r.stderr)
	}
	if r := scan("--tls-ca", caPath, "--tls-server-name", "other.test"); r.code != ExitDevice {
		t.Errorf("wrong server name: exit %d, want %d\n%s", r.code, ExitDevice, r.stderr)
	}
	if r := scan("--tls"); r.code != ExitDevice || !strings.Contains(r.stderr, "espprovd") {
		t.Errorf("untrusted certificate: exit %d, want %d\n%s", r.code, ExitDevice, r.stderr)
	}
	if r := scan("--tls-insecure"); r.code != 0 {
		t.Errorf("--tls-insecure: exit %d\n%s", r.code, r.stderr)
	}
	if r := scan("--tls-ca", filepath.Join(t.TempDir(), "missing.pem")); r.code != ExitUsage {
		t.Errorf("missing CA file: exit %d\n%s", r.code, r.stderr)
	}
}

// TestCtrlC: Ctrl-C at a hidden prompt ends with exit 130, the message, and
// the terminal's echo restored.
func TestCtrlC(t *testing.T) {
	d := startDevice(t, sec1)
	s := startPTY(t, "provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d.port, "--pop", testPoP, "--ssid", testSSID)
	s.expect("Enter passphrase for HomeNet : ")
	s.send("\x03")
	s.expect("Provisioning cancelled by user.")
	if code := s.wait(); code != ExitInterrupted {
		t.Fatalf("exit %d, want %d\n%s", code, ExitInterrupted, s.output())
	}
	if st := d.dev.Stats(); len(st.Exchanges) != 0 {
		t.Errorf("the device was contacted before the passphrase was known: %+v", st)
	}
	tio, err := unix.IoctlGetTermios(int(s.f.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatalf("reading the terminal settings: %v", err)
	}
	if tio.Lflag&unix.ECHO == 0 {
		t.Errorf("echo left off after Ctrl-C at a hidden prompt")
	}
}

// TestOnNetworkScripted: without a terminal, one discovered device is used,
// several need --device_name (matched against instance name or node id).
func TestOnNetworkScripted(t *testing.T) {
	svc := &onNetworkService{Service: provisioning.New(provisioning.Config{Modules: provisioning.DefaultModules()}),
		devices: []*espprovv1.DiscoverResponse{
			{Transport: espprovv1.Transport_TRANSPORT_ON_NETWORK, Name: "Kitchen", NodeId: "NODEA", Address: "127.0.0.1:8001", Security: espprovv1.SecurityScheme_SECURITY_SCHEME_1, PopRequired: true},
			{Transport: espprovv1.Transport_TRANSPORT_ON_NETWORK, Name: "Hall", NodeId: "NODEB", Address: "127.0.0.1:8002", Security: espprovv1.SecurityScheme_SECURITY_SCHEME_2},
		}}
	srv, err := server.Start(context.Background(), server.Options{GRPCListen: "127.0.0.1:0", Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	base := []string{"--server", srv.GRPCAddr(), "provision", "--transport", "on-network", "--discovery-timeout", "1"}
	r := runCLI(t, nil, "", append(base, "--pop", testPoP)...)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--device_name") || !strings.Contains(r.stdout, "Discovered 2 device(s):") {
		t.Errorf("two devices, no name: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, nil, "", append(base, "--device_name", "nodea")...)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "pass --pop") {
		t.Errorf("PoP required: exit %d\n%s", r.code, r.stderr)
	}
	r = runCLI(t, nil, "", append(base, "--device_name", "nodea", "--pop", testPoP)...)
	if r.code != 0 || !strings.Contains(r.stdout, "Node NODEA mapped to your account successfully!") {
		t.Errorf("--device_name by node id: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, nil, "", append(base, "--device_name", "Hall")...)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--sec2_username") {
		t.Errorf("Security 2 device without credentials: exit %d\n%s", r.code, r.stderr)
	}
	r = runCLI(t, nil, "", append(base, "--device_name", "Garage")...)
	if r.code != ExitDevice || !strings.Contains(r.stderr, "Device 'Garage' not found") {
		t.Errorf("unknown name: exit %d\n%s", r.code, r.stderr)
	}
	r = runCLI(t, nil, "", "--server", srv.GRPCAddr(), "discover", "--transport", "on-network", "--timeout", "1")
	if r.code != 0 || !strings.Contains(r.stdout, "1   Kitchen              NODEA                     127.0.0.1        8001   1    Yes      ChalResp") ||
		!strings.Contains(r.stdout, "2   Hall                 NODEB                     127.0.0.1        8002   2    SRP6a    ChalResp") {
		t.Errorf("discover: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if len(svc.mapped) != 1 || svc.mapped[0].GetDevice().GetAddress() != "127.0.0.1:8001" || svc.mapped[0].GetSecurity().GetScheme() != espprovv1.SecurityScheme_SECURITY_SCHEME_1 {
		t.Errorf("MapNode calls: %v", svc.mapped)
	}
}

// TestRunInProcessNoLeak runs the command line in this process (in-process
// engine on bufconn) and checks that no goroutine outlives it.
func TestRunInProcessNoLeak(t *testing.T) {
	d := startDevice(t, sec1)
	base := runtime.NumGoroutine()
	var out, errb bytes.Buffer
	code := Run(context.Background(), []string{"provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d.port, "--pop", testPoP,
		"--ssid", testSSID, "--passphrase", testPass, "--status-poll", "50ms"},
		IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
			if k == "XDG_CONFIG_HOME" {
				return t.TempDir()
			}
			return ""
		}})
	if code != 0 || !strings.Contains(out.String(), "Wi-Fi Provisioning Successful") {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d after, %d before\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}
