package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/cli"
)

func tlsClient(t *testing.T, caFile, certFile, keyFile string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg
}

// TestMutualTLS: a client certificate signed by --tls-client-ca
// authenticates as its subject with the scopes of the tokens file, over gRPC,
// REST and the espprov CLI; a certificate from another CA is refused during
// the handshake; a token still works over TLS (CLI with ESPPROV_TOKEN).
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, rogue := newTestCA(t, "espprov test CA"), newTestCA(t, "rogue CA")
	caFile := ca.write(t, dir, "ca.pem")
	srvCert, srvKey := ca.issue(t, dir, "server", pkix.Name{CommonName: "espprovd"}, 10, true)
	goodCert, goodKey := ca.issue(t, dir, "station", pkix.Name{CommonName: "station-7", Organization: []string{"Factory"}}, 11, false)
	badCert, badKey := rogue.issue(t, dir, "rogue", pkix.Name{CommonName: "station-7", Organization: []string{"Factory"}}, 12, false)
	tokens := filepath.Join(dir, "tokens.yaml")
	writeFile(t, tokens, "certificates:\n  - subject: CN=station-7,O=Factory\n    scopes: [provision, discover]\n")
	mes := createToken(t, tokens, "mes", "provision")
	d := startDaemon(t, "--auth-tokens", tokens, "--tls-cert", srvCert, "--tls-key", srvKey, "--tls-client-ca", caFile)
	ctx, cancel := context.WithTimeout(context.Background(), e2eWaitLong)
	defer cancel()

	good := dial(t, d.grpc, grpc.WithTransportCredentials(credentials.NewTLS(tlsClient(t, caFile, goodCert, goodKey))))
	if last, err := provisionGRPC(ctx, good, provisionRequest(simDevice(t, 100*time.Millisecond))); err != nil || !last.GetResult().GetSuccess() {
		t.Fatalf("Provision with a client certificate: %v %v", last, err)
	}
	if _, err := good.MapNode(ctx, &espprovv1.MapNodeRequest{Device: provisionRequest("127.0.0.1:1").Device}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("MapNode with a certificate holding provision,discover: %v", err)
	}
	bad := dial(t, d.grpc, grpc.WithTransportCredentials(credentials.NewTLS(forceCert(tlsClient(t, caFile, badCert, badKey)))))
	if _, err := provisionGRPC(ctx, bad, provisionRequest(simDevice(t, 100*time.Millisecond))); status.Code(err) != codes.Unavailable {
		t.Errorf("Provision with a certificate from an unknown CA: %v", err)
	}
	none := dial(t, d.grpc, grpc.WithTransportCredentials(credentials.NewTLS(tlsClient(t, caFile, "", ""))))
	if _, err := provisionGRPC(ctx, none, provisionRequest(simDevice(t, 100*time.Millisecond))); status.Code(err) != codes.Unauthenticated {
		t.Errorf("Provision over TLS without certificate or token: %v", err)
	}

	// REST over TLS with the client certificate; the rogue one fails the handshake.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsClient(t, caFile, goodCert, goodKey)}}
	resp, err := hc.Get("https://" + d.http + "/metrics")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("REST /metrics with a client certificate: %v %v", resp, err)
	}
	if resp != nil {
		resp.Body.Close()
	}
	rc := &http.Client{Transport: &http.Transport{TLSClientConfig: forceCert(tlsClient(t, caFile, badCert, badKey))}}
	if resp, err := rc.Get("https://" + d.http + "/metrics"); err == nil {
		resp.Body.Close()
		t.Errorf("REST with a rogue certificate: %d", resp.StatusCode)
	}

	// The CLI: --tls-ca + --tls-cert, and --tls-ca + ESPPROV_TOKEN.
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"certificate", []string{"--tls-cert", goodCert, "--tls-key", goodKey}, nil},
		{"token", nil, map[string]string{"ESPPROV_TOKEN": mes}},
	} {
		var out, errs syncBuf
		args := append([]string{"--server", d.grpc, "--tls-ca", caFile, "--no-input"}, tc.args...)
		args = append(args, "provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", portOf(simDevice(t, 100*time.Millisecond)),
			"--sec_ver", "2", "--sec2_username", e2eUser, "--sec2_password", e2eSRPPass, "--ssid", e2eSSID, "--passphrase", e2ePass)
		code := cli.Main(args, cli.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errs, Getenv: func(k string) string { return tc.env[k] }})
		if code != 0 || !strings.Contains(out.String(), "Provisioning Successful") {
			t.Errorf("CLI with %s: exit %d\n%s\n%s", tc.name, code, out.String(), errs.String())
		}
	}
	var out, errs syncBuf
	code := cli.Main([]string{"--server", d.grpc, "--tls-ca", caFile, "--no-input", "scan", "--transport", "httpd", "--device-ip", "127.0.0.1",
		"--device-port", "1", "--sec_ver", "2", "--sec2_username", "u", "--sec2_password", "p"}, cli.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errs, Getenv: func(string) string { return "" }})
	if code == 0 || !strings.Contains(errs.String(), "Bearer") {
		t.Errorf("CLI without credentials: exit %d: %s", code, errs.String())
	}
	if err := d.shutdown(); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range d.lines() {
		if l["msg"] == "rpc" && l["caller"] == "certificate:CN=station-7,O=Factory" && l["code"] == "OK" {
			found = true
		}
	}
	if !found {
		t.Errorf("no access log line naming the certificate identity:\n%s", d.logs.String())
	}
	checkLogs(t, d, []string{mes, e2ePass, e2eSRPPass})
}

// forceCert makes a client send its certificate even when the server's
// list of acceptable CAs does not name its issuer (Go's client would
// otherwise send none), as an attacker's client would.
func forceCert(cfg *tls.Config) *tls.Config {
	cert := cfg.Certificates[0]
	cfg.Certificates = nil
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	return cfg
}

func portOf(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }

// TestTLSReloadWithStreamInFlight: new certificate files and SIGHUP while
// a Provision stream is running: new connections get the new certificate,
// the running stream ends with success on the old connection.
func TestTLSReloadWithStreamInFlight(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "espprov test CA")
	caFile := ca.write(t, dir, "ca.pem")
	certFile, keyFile := ca.issue(t, dir, "server", pkix.Name{CommonName: "espprovd-old"}, 100, true)
	d := startDaemon(t, "--tls-cert", certFile, "--tls-key", keyFile)
	ctx, cancel := context.WithTimeout(context.Background(), e2eWaitLong)
	defer cancel()
	cfg := tlsClient(t, caFile, "", "")
	c := dial(t, d.grpc, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	st, err := c.Provision(ctx, provisionRequest(simDevice(t, 3*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := st.Recv()
		if err != nil {
			t.Fatalf("before reload: %v", err)
		}
		if ev.GetStep() == espprovv1.Step_STEP_CONFIG_APPLIED {
			break // the device is now joining Wi-Fi for 3 s
		}
	}
	if serial := servedSerial(t, d.grpc, cfg); serial != 100 {
		t.Fatalf("serial before reload: %d", serial)
	}
	newCert, newKey := ca.issue(t, dir, "server-new", pkix.Name{CommonName: "espprovd-new"}, 200, true)
	for from, to := range map[string]string{newCert: certFile, newKey: keyFile} {
		if err := os.Rename(from, to); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitLog("TLS certificate reloaded", 20*time.Second)
	if serial := servedSerial(t, d.grpc, cfg); serial != 200 {
		t.Errorf("serial after reload: %d", serial)
	}
	if serial := servedSerial(t, d.http, cfg); serial != 200 {
		t.Errorf("REST serial after reload: %d", serial)
	}
	var last *espprovv1.ProvisionResponse
	for {
		ev, err := st.Recv()
		if err != nil {
			if last.GetResult().GetSuccess() && strings.Contains(err.Error(), "EOF") {
				break
			}
			t.Fatalf("stream after reload: %v (last %v)", err, last)
		}
		last = ev
	}
}

func servedSerial(t *testing.T, addr string, cfg *tls.Config) int64 {
	t.Helper()
	c := cfg.Clone()
	c.NextProtos = []string{"h2", "http/1.1"}
	conn, err := tls.Dial("tcp", addr, c)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}
