package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/netnstest"
)

// startProvision opens a Provision stream and reads until the device is
// joining Wi-Fi (the long part), so that the call is in flight.
func startProvision(t *testing.T, ctx context.Context, c espprovv1.ProvisioningServiceClient, dev string) espprovv1.ProvisioningService_ProvisionClient {
	t.Helper()
	st, err := c.Provision(ctx, provisionRequest(dev))
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := st.Recv()
		if err != nil {
			t.Fatalf("before shutdown: %v", err)
		}
		if ev.GetStep() == espprovv1.Step_STEP_CONFIG_APPLIED {
			return st
		}
	}
}

// TestGracefulStopLetsStreamFinish: SIGTERM (the run context ending) while
// a provisioning runs: new calls are refused, the running stream reaches
// its result and ends cleanly, espprovd exits without error.
func TestGracefulStopLetsStreamFinish(t *testing.T) {
	d := startDaemon(t, "--shutdown-grace", "60s")
	ctx, cancel := context.WithTimeout(context.Background(), e2eWaitLong)
	defer cancel()
	c := dial(t, d.grpc)
	st := startProvision(t, ctx, c, simDevice(t, 2*time.Second))
	stopped := make(chan error, 1)
	go func() { stopped <- d.shutdown() }()
	d.waitLog("shutting down", 20*time.Second)
	late := dial(t, d.grpc)
	if _, err := late.ScanWifi(ctx, &espprovv1.ScanWifiRequest{Device: provisionRequest("127.0.0.1:1").Device}); status.Code(err) != codes.Unavailable {
		t.Errorf("a new call during shutdown: %v", err)
	}
	var last *espprovv1.ProvisionResponse
	for {
		ev, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("in-flight stream: %v", err)
		}
		last = ev
	}
	if !last.GetResult().GetSuccess() {
		t.Errorf("in-flight stream ended with %v", last)
	}
	if err := <-stopped; err != nil {
		t.Errorf("run: %v", err)
	}
}

// TestGracefulStopCancelsAfterGrace: a provisioning that outlives
// --shutdown-grace ends with a typed Unavailable error naming the shutdown.
func TestGracefulStopCancelsAfterGrace(t *testing.T) {
	d := startDaemon(t, "--shutdown-grace", "300ms")
	ctx, cancel := context.WithTimeout(context.Background(), e2eWaitLong)
	defer cancel()
	st := startProvision(t, ctx, dial(t, d.grpc), simDevice(t, 40*time.Second))
	stopped := make(chan error, 1)
	go func() { stopped <- d.shutdown() }()
	var err error
	for err == nil {
		_, err = st.Recv()
	}
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("stream after the grace: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("run: %v", err)
	}
	d.waitLog("remaining calls were cancelled", 5*time.Second)
}

// TestRefuseNetworkWithoutAuth: a non-loopback listen address without
// authentication is refused with a message saying what to do.
func TestRefuseNetworkWithoutAuth(t *testing.T) {
	for _, args := range [][]string{
		{"--grpc-listen", "0.0.0.0:0"},
		{"--grpc-listen", "127.0.0.1:0", "--http-listen", ":0"},
		{"--grpc-listen", "127.0.0.1:0", "--http-listen", "", "--metrics-listen", "[::]:0"},
	} {
		var out, errs syncBuf
		err := run(context.Background(), args, &out, &errs)
		if err == nil || exitCode(err) != 2 {
			t.Fatalf("%v: %v", args, err)
		}
		for _, want := range []string{"refusing to listen", "--auth-tokens", "espprovd token create", "--insecure-no-auth"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v: message lacks %q: %v", args, want, err)
			}
		}
	}
}

// TestInsecureNoAuthWarns runs in its own network namespace (0.0.0.0 there
// is the namespace's loopback only): --insecure-no-auth starts and warns.
func TestInsecureNoAuthWarns(t *testing.T) {
	if !netnstest.Run(t) {
		return
	}
	d := startDaemon(t, "--grpc-listen", "0.0.0.0:0", "--insecure-no-auth")
	l := d.waitLog("INSECURE", 5*time.Second)
	if l["level"] != "WARN" {
		t.Errorf("warning level: %v", l)
	}
}

// TestMetricsListener: --metrics-listen serves /metrics on its own port
// (open with --metrics-open) and not on the REST port.
func TestMetricsListener(t *testing.T) {
	d := startDaemon(t, "--metrics-listen", "127.0.0.1:0", "--metrics-open")
	if !strings.HasSuffix(d.metrics, "/metrics") || strings.HasPrefix(d.metrics, d.http) {
		t.Fatalf("metrics at %q (REST %s)", d.metrics, d.http)
	}
	if code, body := get(t, "http://"+d.metrics, ""); code != http.StatusOK || !strings.Contains(body, "espprov_go_goroutines") {
		t.Errorf("separate /metrics: %d", code)
	}
	if code, _ := get(t, "http://"+d.http+"/metrics", ""); code != http.StatusNotFound {
		t.Errorf("/metrics on the REST port with --metrics-listen: %d", code)
	}
}
