//go:build bluezvm

package bluez

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
)

// espprovd starts the server binary on loopback and returns a client.
func espprovd(t *testing.T, args ...string) espprovv1.ProvisioningServiceClient {
	t.Helper()
	args = append([]string{"--grpc-listen", "127.0.0.1:0", "--http-listen", "", "--log-level", "debug",
		"--store", filepath.Join(t.TempDir(), "jobs.db")}, args...)
	cmd := exec.Command(filepath.Join(binDir, "espprovd"), args...)
	out := newLineBuffer()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("espprovd did not stop on SIGINT:\n%s", out)
		}
		if t.Failed() {
			t.Logf("espprovd log:\n%s", out)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	m, err := out.wait(ctx, regexp.MustCompile(`grpc=(127\.0\.0\.1:\d+)`))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(m[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return espprovv1.NewProvisioningServiceClient(cc)
}

func bleDevice(name, adapter string) *espprovv1.Device {
	return &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_BLE, Name: name, Adapter: adapter,
		DiscoveryTimeout: durationpb.New(20 * time.Second)}
}

func provisionReq(dev *espprovv1.Device, sec *espprovv1.Security) *espprovv1.ProvisionRequest {
	return &espprovv1.ProvisionRequest{Device: dev, Security: sec,
		Wifi:     &espprovv1.WifiCredentials{Ssid: ssid, Passphrase: pass},
		Timeouts: &espprovv1.Timeouts{StatusPoll: durationpb.New(50 * time.Millisecond), Exchange: durationpb.New(exchangeTimeout)}}
}

// provision runs one Provision call and returns its events.
func provision(ctx context.Context, cl espprovv1.ProvisioningServiceClient, req *espprovv1.ProvisionRequest) ([]*espprovv1.ProvisionResponse, error) {
	st, err := cl.Provision(ctx, req)
	if err != nil {
		return nil, err
	}
	var evs []*espprovv1.ProvisionResponse
	for {
		ev, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

// stepTimes returns when each step first happened, relative to t0.
func stepTimes(t0 time.Time, evs []*espprovv1.ProvisionResponse) map[espprovv1.Step]time.Duration {
	out := map[espprovv1.Step]time.Duration{}
	for _, ev := range evs {
		if _, ok := out[ev.GetStep()]; !ok {
			out[ev.GetStep()] = ev.GetTime().AsTime().Sub(t0)
		}
	}
	return out
}

func succeeded(evs []*espprovv1.ProvisionResponse) bool {
	return len(evs) > 0 && evs[len(evs)-1].GetResult().GetSuccess()
}
