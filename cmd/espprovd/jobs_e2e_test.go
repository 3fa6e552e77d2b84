package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/jobstore/jobstoretest"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
)

// proc is a real espprovd process (this test binary as the daemon).
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	grpc   string
	http   string
	client espprovv1.ProvisioningServiceClient
	logs   *syncBuf
	exited chan struct{}
}

func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	base := []string{"--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "debug"}
	cmd := exec.Command(os.Args[0], append(base, args...)...)
	cmd.Env = append(os.Environ(), "ESPPROVD_TEST_AS_DAEMON=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, logs: &syncBuf{}, exited: make(chan struct{})}
	serving := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.logs.Write(append(sc.Bytes(), '\n'))
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "espprovd serving" {
				serving <- m
			}
		}
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { p.kill(syscall.SIGTERM) })
	select {
	case m := <-serving:
		p.grpc, _ = m["grpc"].(string)
		p.http, _ = m["http"].(string)
	case <-p.exited:
		t.Fatalf("espprovd exited before serving:\n%s", p.logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("espprovd did not serve within 60 s:\n%s", p.logs.String())
	}
	conn, err := grpc.NewClient(p.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	p.client = espprovv1.NewProvisioningServiceClient(conn)
	return p
}

// kill sends sig and waits for the process to end.
func (p *proc) kill(sig syscall.Signal) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// heldDevice is a simulated device whose first prov-config exchange
// (SetConfig) waits until release: a job parked mid-flow.
type heldDevice struct {
	device.Protocomm
	addr    string
	dev     *device.Device
	reached chan struct{}
	release chan struct{}
	once    sync.Once
	relOnce sync.Once
}

func (h *heldDevice) Handle(session, endpoint string, req []byte) ([]byte, error) {
	if endpoint == "prov-config" {
		first := false
		h.once.Do(func() { first = true; close(h.reached) })
		if first {
			<-h.release
		}
	}
	return h.Protocomm.Handle(session, endpoint, req)
}

func (h *heldDevice) open() { h.relOnce.Do(func() { close(h.release) }) }

func startHeldDevice(t *testing.T) *heldDevice {
	t.Helper()
	dev, err := device.New(device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: e2eUser, SRPPassword: e2eSRPPass,
		APs: []device.AP{{SSID: e2eSSID, Passphrase: e2ePass, Channel: 6, RSSI: -40}}, ConnectDelay: 20 * time.Millisecond, CleanupDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h := &heldDevice{Protocomm: dev, dev: dev, reached: make(chan struct{}), release: make(chan struct{})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := simhttpd.New(h, simhttpd.Options{})
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	t.Cleanup(h.open) // runs before Close
	h.addr = l.Addr().String()
	return h
}

func jobReq(addr, requestID string) *espprovv1.ProvisionRequest {
	return &espprovv1.ProvisionRequest{
		Device:    &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: addr},
		Security:  &espprovv1.Security{Sec2Username: e2eUser, Sec2Password: e2eSRPPass},
		Wifi:      &espprovv1.WifiCredentials{Ssid: e2eSSID, Passphrase: e2ePass},
		RequestId: requestID, SerialNumber: "SN-" + requestID, WorkOrder: "WO-crash",
		Timeouts: &espprovv1.Timeouts{Exchange: durationpb.New(30 * time.Second), Overall: durationpb.New(90 * time.Second),
			WifiConnect: durationpb.New(30 * time.Second), StatusPoll: durationpb.New(20 * time.Millisecond)},
	}
}

func recvAll(s interface {
	Recv() (*espprovv1.ProvisionResponse, error)
}) ([]*espprovv1.ProvisionResponse, error) {
	var out []*espprovv1.ProvisionResponse
	for {
		ev, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
}

func e2eCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestKillDuringJobThenRestart: kill -9 of espprovd while a job waits on
// the device; after a restart on the same store the job is interrupted
// with its last confirmed step, its events replay and end, and the device
// takes a new job.
func TestKillDuringJobThenRestart(t *testing.T) {
	store := filepath.Join(t.TempDir(), "jobs.db")
	d := startHeldDevice(t)
	a := startProc(t, "--store", store)
	ctx := e2eCtx(t)
	s, err := a.client.Provision(ctx, jobReq(d.addr, "crash-1"))
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	id := first.GetJobId()
	<-d.reached
	a.kill(syscall.SIGKILL)
	if _, err := recvAll(s); status.Code(err) != codes.Unavailable {
		t.Fatalf("stream after kill -9: %v, want UNAVAILABLE", err)
	}
	d.open()

	b := startProc(t, "--store", store)
	job, err := b.client.GetJob(ctx, &espprovv1.GetJobRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	if job.GetState() != espprovv1.JobState_JOB_STATE_INTERRUPTED || job.GetLastConfirmedStep() != espprovv1.Step_STEP_SESSION_ESTABLISHED ||
		job.GetError().GetCode() != codes.Aborted.String() || !strings.Contains(job.GetError().GetMessage(), "STEP_SESSION_ESTABLISHED") {
		t.Fatalf("after restart: state %s, last step %s, error %v", job.GetState(), job.GetLastConfirmedStep(), job.GetError())
	}
	w, err := b.client.WatchJob(ctx, &espprovv1.WatchJobRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := recvAll(w)
	if err != nil || len(evs) != 4 || evs[3].GetJobState() != espprovv1.JobState_JOB_STATE_INTERRUPTED {
		t.Fatalf("WatchJob of the interrupted job: %d events, %v", len(evs), err)
	}
	// Retrying the same request_id attaches to the interrupted record (no
	// second job); a new request_id provisions the device.
	s2, err := b.client.Provision(ctx, jobReq(d.addr, "crash-1"))
	if err != nil {
		t.Fatal(err)
	}
	if evs, err := recvAll(s2); status.Code(err) != codes.Aborted || evs[0].GetJobId() != id {
		t.Fatalf("retry with the same request_id: %v", err)
	}
	s3, err := b.client.Provision(ctx, jobReq(d.addr, "crash-2"))
	if err != nil {
		t.Fatal(err)
	}
	if evs, err := recvAll(s3); err != nil || !evs[len(evs)-1].GetResult().GetSuccess() {
		t.Fatalf("new job on the device after the crash: %v", err)
	}
	stored, _ := os.ReadFile(store)
	wal, _ := os.ReadFile(store + "-wal")
	for _, secret := range []string{e2ePass, e2eSRPPass} {
		if bytes.Contains(append(stored, wal...), []byte(secret)) {
			t.Errorf("the job store holds the secret %q", secret)
		}
	}
}

// TestTwoInstancesOnePostgres: two espprovd processes share a PostgreSQL
// record: a job running on A locks its device for B, WatchJob on B follows
// it live to its end, and after A is killed B marks A's unfinished job
// interrupted and takes the device over.
func TestTwoInstancesOnePostgres(t *testing.T) {
	dsn := jobstoretest.PostgresDSN(t)
	a := startProc(t, "--store", dsn, "--instance", "line3-a", "--job-recover-interval", "200ms")
	b := startProc(t, "--store", dsn, "--instance", "line3-b", "--job-recover-interval", "200ms")
	ctx := e2eCtx(t)

	d := startHeldDevice(t)
	s, err := a.client.Provision(ctx, jobReq(d.addr, "pg-1"))
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	id := first.GetJobId()
	<-d.reached
	_, err = recvAll(mustStream(t)(b.client.Provision(ctx, jobReq(d.addr, "pg-2"))))
	if status.Code(err) != codes.Aborted || !strings.Contains(status.Convert(err).Message(), id) {
		t.Fatalf("B provisioning A's busy device: %v, want ABORTED naming %s", err, id)
	}
	w, err := b.client.WatchJob(ctx, &espprovv1.WatchJobRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	replayed, err := w.Recv()
	if err != nil || replayed.GetSequence() != 1 {
		t.Fatalf("WatchJob on B: %v %v", replayed, err)
	}
	d.open() // the job goes on; B must follow it live
	rest, err := recvAll(w)
	if err != nil || len(rest) == 0 || rest[len(rest)-1].GetJobState() != espprovv1.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("B following A's job: %d events, %v", len(rest), err)
	}
	onA, err := recvAll(s)
	if err != nil || len(onA) != len(rest) {
		t.Fatalf("A's stream: %d events (%v); B saw %d after the first", len(onA)+1, err, len(rest)+1)
	}
	if j, err := b.client.GetJob(ctx, &espprovv1.GetJobRequest{JobId: id}); err != nil || j.GetInstance() != "line3-a" || j.GetState() != espprovv1.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("GetJob on B: %v %v", j, err)
	}

	// A dies mid-job: B records the job interrupted and the device is free.
	d2 := startHeldDevice(t)
	s2, err := a.client.Provision(ctx, jobReq(d2.addr, "pg-3"))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := s2.Recv()
	if err != nil {
		t.Fatal(err)
	}
	<-d2.reached
	a.kill(syscall.SIGKILL)
	d2.open()
	w2, err := b.client.WatchJob(ctx, &espprovv1.WatchJobRequest{JobId: ev.GetJobId()})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := recvAll(w2)
	if err != nil || evs[len(evs)-1].GetJobState() != espprovv1.JobState_JOB_STATE_INTERRUPTED {
		t.Fatalf("A's orphan seen from B: %v", err)
	}
	if evs, err := recvAll(mustStream(t)(b.client.Provision(ctx, jobReq(d2.addr, "pg-4")))); err != nil || !evs[len(evs)-1].GetResult().GetSuccess() {
		t.Fatalf("B provisioning the device A left: %v", err)
	}
	dump := jobstoretest.PostgresSchemaDump(t, dsn)
	for _, secret := range []string{e2ePass, e2eSRPPass} {
		if bytes.Contains(dump, []byte(secret)) {
			t.Errorf("the PostgreSQL tables hold the secret %q", secret)
		}
	}
}

func mustStream(t *testing.T) func(espprovv1.ProvisioningService_ProvisionClient, error) espprovv1.ProvisioningService_ProvisionClient {
	return func(s espprovv1.ProvisioningService_ProvisionClient, err error) espprovv1.ProvisioningService_ProvisionClient {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}
