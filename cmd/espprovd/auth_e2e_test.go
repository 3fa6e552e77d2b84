package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
)

func provisionRequest(addr string) *espprovv1.ProvisionRequest {
	return &espprovv1.ProvisionRequest{
		Device:   &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: addr},
		Security: &espprovv1.Security{Sec2Username: e2eUser, Sec2Password: e2eSRPPass},
		Wifi:     &espprovv1.WifiCredentials{Ssid: e2eSSID, Passphrase: e2ePass},
		Timeouts: &espprovv1.Timeouts{StatusPoll: durationpb.New(50 * time.Millisecond)},
	}
}

func withToken(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// provisionGRPC runs one Provision stream to its end: the last event and
// the stream's status.
func provisionGRPC(ctx context.Context, c espprovv1.ProvisioningServiceClient, req *espprovv1.ProvisionRequest, opts ...grpc.CallOption) (*espprovv1.ProvisionResponse, error) {
	st, err := c.Provision(ctx, req, opts...)
	if err != nil {
		return nil, err
	}
	var last *espprovv1.ProvisionResponse
	for {
		ev, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return last, nil
		}
		if err != nil {
			return last, err
		}
		last = ev
	}
}

func dial(t *testing.T, addr string, opts ...grpc.DialOption) espprovv1.ProvisioningServiceClient {
	t.Helper()
	if len(opts) == 0 {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return espprovv1.NewProvisioningServiceClient(conn)
}

func restProvision(t *testing.T, base, tok, addr string, extra ...string) (*http.Response, string) {
	t.Helper()
	body := `{"device":{"transport":"TRANSPORT_HTTPD","address":"` + addr + `"},"security":{"sec2Username":"` + e2eUser +
		`","sec2Password":"` + e2eSRPPass + `"},"wifi":{"ssid":"` + e2eSSID + `","passphrase":"` + e2ePass + `"},"timeouts":{"statusPoll":"0.05s"}}`
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/devices:provision", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func get(t *testing.T, url, tok string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// createToken runs `espprovd token create` and returns the last line of
// its standard output, which must be the token alone.
func createToken(t *testing.T, file, name, scopes string) string {
	t.Helper()
	var out, errs syncBuf
	if err := run(context.Background(), []string{"token", "create", "--file", file, "--name", name, "--scopes", scopes}, &out, &errs); err != nil {
		t.Fatalf("token create: %v\n%s", err, errs.String())
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	tok := lines[len(lines)-1]
	if strings.ContainsAny(tok, " \t") || !strings.HasPrefix(tok, "espt_") {
		t.Fatalf("last line is not a token alone: %q", tok)
	}
	return tok
}

// TestAuthEndToEnd: tokens created with the CLI, then gRPC and REST calls
// without a token (Unauthenticated / 401), with a token lacking the scope
// (PermissionDenied / 403) and with the right one (provisioned), /metrics
// counting both provisionings, revocation on SIGHUP, and every debug log
// line JSON with a request id and without any of the test's secrets.
func TestAuthEndToEnd(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.yaml")
	prov := createToken(t, tokens, "mes-line-1", "provision")
	disc := createToken(t, tokens, "viewer", "discover")
	audit := createToken(t, tokens, "auditor", "jobs.read")
	d := startDaemon(t, "--auth-tokens", tokens)
	ctx, cancel := context.WithTimeout(context.Background(), e2eWaitLong)
	defer cancel()
	c := dial(t, d.grpc)
	dev1, dev2 := simDevice(t, 200*time.Millisecond), simDevice(t, 200*time.Millisecond)

	// gRPC
	scan := &espprovv1.ScanWifiRequest{Device: provisionRequest(dev1).Device, Security: provisionRequest(dev1).Security}
	if _, err := c.ScanWifi(ctx, scan); status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "Bearer") {
		t.Errorf("ScanWifi without token: %v", err)
	}
	if _, err := c.ScanWifi(withToken(ctx, "espt_forged"), scan); status.Code(err) != codes.Unauthenticated {
		t.Errorf("ScanWifi with a forged token: %v", err)
	}
	if _, err := provisionGRPC(ctx, c, provisionRequest(dev1)); status.Code(err) != codes.Unauthenticated {
		t.Errorf("Provision without token: %v", err)
	}
	if _, err := provisionGRPC(withToken(ctx, disc), c, provisionRequest(dev1)); status.Code(err) != codes.PermissionDenied ||
		!strings.Contains(err.Error(), `"provision"`) {
		t.Errorf("Provision with a discover token: %v", err)
	}
	if _, err := c.ScanWifi(withToken(ctx, disc), scan); err != nil {
		t.Errorf("ScanWifi with a discover token: %v", err)
	}
	var header metadata.MD
	last, err := provisionGRPC(withToken(ctx, prov), c, provisionRequest(dev1), grpc.Header(&header))
	if err != nil || !last.GetResult().GetSuccess() {
		t.Fatalf("Provision with a provision token: %v %v", last, err)
	}
	if len(header.Get("x-request-id")) != 1 {
		t.Errorf("no x-request-id header: %v", header)
	}
	if h, err := healthpb.NewHealthClient(grpcConn(t, d.grpc)).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health without token: %v %v", h, err)
	}

	// REST
	base := "http://" + d.http
	resp, body := restProvision(t, base, "", dev2)
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("REST without token: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if resp, body = restProvision(t, base, disc, dev2); resp.StatusCode != http.StatusForbidden {
		t.Errorf("REST with a discover token: %d %s", resp.StatusCode, body)
	}
	// The metadata the gateway uses to forward the principal cannot be set
	// by a client.
	spoof := []string{"X-Espprov-Gateway-Identity-Scopes", "admin", "Grpc-Metadata-X-Espprov-Gateway-Identity-Scopes", "admin",
		"Grpc-Metadata-X-Espprov-Gateway-Identity-Kind", "token", "Grpc-Metadata-X-Espprov-Gateway-Identity-Name", "mes-line-1"}
	if resp, body = restProvision(t, base, disc, dev2, spoof...); resp.StatusCode != http.StatusForbidden {
		t.Errorf("REST with a discover token and spoofed gateway metadata: %d %s", resp.StatusCode, body)
	}
	if resp, body = restProvision(t, base, prov, dev2); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"success":true`) {
		t.Errorf("REST with a provision token: %d %s", resp.StatusCode, body)
	}
	restID := resp.Header.Get("X-Request-Id")
	// Job records name the caller; reading them needs jobs.read.
	if _, err := c.ListJobs(withToken(ctx, prov), &espprovv1.ListJobsRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("ListJobs with a provision token: %v", err)
	}
	jobs, err := c.ListJobs(withToken(ctx, audit), &espprovv1.ListJobsRequest{})
	if err != nil || len(jobs.GetJobs()) != 2 {
		t.Fatalf("ListJobs with a jobs.read token: %v %v", jobs, err)
	}
	for _, j := range jobs.GetJobs() {
		if j.GetCaller() != "token:mes-line-1" {
			t.Errorf("job %s caller %q, want token:mes-line-1", j.GetJobId(), j.GetCaller())
		}
	}
	if code, _ := get(t, base+"/healthz", ""); code != http.StatusOK {
		t.Errorf("/healthz without token: %d", code)
	}

	// Metrics: behind auth; both provisionings counted, with their labels.
	if code, _ := get(t, base+"/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without token: %d", code)
	}
	code, metricsText := get(t, base+"/metrics", disc)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`espprov_provisions_total{result="OK",scheme="sec2",transport="httpd"} 2`,
		`espprov_provision_step_seconds_count{step="session_established"} 2`,
		`espprov_sessions_in_flight{method="Provision"} 0`,
		`espprov_rpc_requests_total{code="Unauthenticated",method="ScanWifi"} 2`,
		"espprov_go_goroutines ",
	} {
		if !strings.Contains(metricsText, want) {
			t.Log(grepLines(metricsText, "espprov_provisions_total"))
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, l := range strings.Split(metricsText, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "espprov_") {
			t.Errorf("metric without the espprov_ prefix: %s", l)
		}
	}

	// Revocation takes effect on SIGHUP.
	var out, errs syncBuf
	if err := run(ctx, []string{"token", "revoke", "--file", tokens, "--name", "mes-line-1"}, &out, &errs); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitLog("tokens file reloaded", 20*time.Second)
	if _, err := c.ScanWifi(withToken(ctx, prov), scan); status.Code(err) != codes.Unauthenticated {
		t.Errorf("revoked token after SIGHUP: %v", err)
	}

	if err := d.shutdown(); err != nil {
		t.Fatal(err)
	}
	checkLogs(t, d, []string{prov, disc, audit, e2ePass, e2eSRPPass})
	// The caller is named on the access log line of its calls.
	found := false
	for _, l := range d.lines() {
		if l["msg"] == "rpc" && l["method"] == "/espprov.v1.ProvisioningService/Provision" && l["caller"] == "token:mes-line-1" && l["code"] == "OK" {
			found = true
		}
	}
	if !found {
		t.Errorf("no access log line of the provisioning naming token:mes-line-1:\n%s", d.logs.String())
	}
	// The REST call's X-Request-Id is the id of its gRPC call's log lines.
	found = false
	for _, l := range d.lines() {
		if l["msg"] == "provision succeeded" && restID != "" && l["request_id"] == restID && l["caller"] == "token:mes-line-1" {
			found = true
		}
	}
	if !found {
		t.Errorf("no service log line with the REST call's request id %q", restID)
	}
}

// checkLogs: every line is JSON, every rpc line has a request id, and no
// line holds a secret.
func checkLogs(t *testing.T, d *daemon, secrets []string) {
	t.Helper()
	text := d.logs.String()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("a log line holds the secret %q", s)
		}
	}
	n, svc := 0, 0
	for _, l := range d.lines() {
		// Lines the service writes during a call carry the call's id too.
		if m, _ := l["msg"].(string); strings.HasPrefix(m, "provision ") || strings.HasPrefix(m, "rainmaker: ") || m == "node mapped" {
			svc++
			if id, _ := l["request_id"].(string); id == "" {
				t.Errorf("service log line without request_id: %v", l)
			}
		}
		if l["msg"] == "rpc" {
			n++
			if id, _ := l["request_id"].(string); id == "" {
				t.Errorf("rpc log line without request_id: %v", l)
			}
		}
	}
	if n == 0 || svc == 0 {
		t.Errorf("%d rpc and %d service log lines: the checks saw nothing", n, svc)
	}
	if !strings.Contains(text, `"level":"DEBUG"`) {
		t.Error("no debug line: the secret check did not see debug logs")
	}
}

func grpcConn(t *testing.T, addr string) *grpc.ClientConn {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
