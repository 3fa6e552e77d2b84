package jobs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/jobstore"
	"github.com/espprov/espprov/internal/jobstore/jobstoretest"
	"github.com/espprov/espprov/internal/jobstore/postgres"
	"github.com/espprov/espprov/internal/jobstore/sqlite"
	"github.com/espprov/espprov/internal/server"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
	"github.com/espprov/espprov/services/jobs"
	"github.com/espprov/espprov/services/provisioning"
)

// Secrets every test uses; the secret scan looks for each.
const (
	testUser  = "wifiprov"
	testPoP   = "pop-S3cret-4711"
	testSSID  = "FactoryNet"
	testPass  = "wifi-S3cret-passphrase"
	cloudUser = "maker@example.com"
	cloudPass = "cloud-S3cret-password"
)

var secrets = []string{testPoP, testPass, cloudPass}

var testAPs = []device.AP{{SSID: testSSID, Passphrase: testPass, Channel: 6, RSSI: -40}}

type storeKind struct {
	name string
	open func(t testing.TB, instance string) (jobstore.Store, func() []byte)
}

// sqliteKind opens a SQLite store in the test's directory; dump returns
// the bytes of its files.
func sqliteKind(dir string) storeKind {
	return storeKind{"sqlite", func(t testing.TB, instance string) (jobstore.Store, func() []byte) {
		path := filepath.Join(dir, "jobs.db")
		st, err := sqlite.Open(context.Background(), path, instance)
		if err != nil {
			t.Fatal(err)
		}
		return st, func() []byte { return readFiles(t, path, path+"-wal", path+"-shm") }
	}}
}

func postgresKind(dsn string) storeKind {
	return storeKind{"postgres", func(t testing.TB, instance string) (jobstore.Store, func() []byte) {
		st, err := postgres.Open(context.Background(), dsn, instance)
		if err != nil {
			t.Fatal(err)
		}
		return st, func() []byte { return jobstoretest.PostgresSchemaDump(t, dsn) }
	}}
}

// stores runs f against both backends.
func stores(t *testing.T, f func(t *testing.T, k storeKind)) {
	t.Run("sqlite", func(t *testing.T) { f(t, sqliteKind(t.TempDir())) })
	t.Run("postgres", func(t *testing.T) { f(t, postgresKind(jobstoretest.PostgresDSN(t))) })
}

type harness struct {
	srv    *server.Server
	runner *jobs.Runner
	store  jobstore.Store
	dump   func() []byte
	conn   *grpc.ClientConn
	client espprovv1.ProvisioningServiceClient
	logs   *syncBuffer
}

type options struct {
	queue  jobs.QueueObserver
	limits map[espprovv1.Transport]jobs.Limit
	cloud  provisioning.CloudConfig
}

func start(t testing.TB, k storeKind, o options) *harness {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	instance := jobs.NewInstanceID() // the store's and the runner's: another harness on the store sees it alive
	st, dump := k.open(t, instance)
	o.cloud.Client.Logger = log
	svc := provisioning.New(provisioning.Config{Modules: provisioning.DefaultModules(), Logger: log, Cloud: o.cloud})
	r, err := jobs.New(context.Background(), jobs.Config{Store: st, Service: svc, Instance: instance, Logger: log, Limits: o.limits, Queue: o.queue,
		DeviceKey: svc.DeviceKey, WantsMapping: provisioning.WantsMapping})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.Start(context.Background(), server.Options{GRPCListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0",
		Service: jobs.NewServer(svc, r), Logger: log, GatewayRoutes: jobs.GatewayRoutes})
	if err != nil {
		t.Fatal(err)
	}
	conn, client := dial(t, srv.GRPCAddr())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = r.Shutdown(ctx)
		_ = st.Close()
	})
	return &harness{srv: srv, runner: r, store: st, dump: dump, conn: conn, client: client, logs: logs}
}

// gate holds a device's first exchange on one endpoint until released.
type gate struct {
	device.Protocomm
	endpoint string
	reached  chan struct{}
	release  chan struct{}
	once     sync.Once
	opened   sync.Once
}

// open lets the held exchange go on.
func (g *gate) open() { g.opened.Do(func() { close(g.release) }) }

func newGate(p device.Protocomm, endpoint string) *gate {
	return &gate{Protocomm: p, endpoint: endpoint, reached: make(chan struct{}), release: make(chan struct{})}
}

func (g *gate) Handle(session, endpoint string, req []byte) ([]byte, error) {
	if endpoint == g.endpoint {
		first := false
		g.once.Do(func() { first = true; close(g.reached) })
		if first {
			<-g.release
		}
	}
	return g.Protocomm.Handle(session, endpoint, req)
}

type simDevice struct {
	dev  *device.Device
	addr string
}

func startDevice(t testing.TB, cfg device.Config, wrap func(device.Protocomm) device.Protocomm) *simDevice {
	t.Helper()
	if cfg.APs == nil {
		cfg.APs = testAPs
	}
	if cfg.ConnectDelay == 0 {
		cfg.ConnectDelay = 20 * time.Millisecond
	}
	if cfg.CleanupDelay == 0 {
		cfg.CleanupDelay = 50 * time.Millisecond
	}
	if cfg.SecVer == 0 && cfg.SRPPassword == "" && cfg.PoP == "" {
		cfg.SecVer, cfg.SecPatchVer, cfg.SRPUsername, cfg.SRPPassword = 2, 1, testUser, testPoP
	}
	dev, err := device.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var p device.Protocomm = dev
	if wrap != nil {
		p = wrap(dev)
	}
	s := simhttpd.New(p, simhttpd.Options{})
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	if g, ok := p.(*gate); ok {
		t.Cleanup(g.open) // before Close: a failed test must not leave an exchange held
	}
	return &simDevice{dev: dev, addr: l.Addr().String()}
}

func fastTimeouts() *espprovv1.Timeouts {
	return &espprovv1.Timeouts{
		Exchange:    durationpb.New(5 * time.Second),
		Overall:     durationpb.New(60 * time.Second),
		WifiConnect: durationpb.New(20 * time.Second),
		StatusPoll:  durationpb.New(20 * time.Millisecond),
	}
}

func provisionReq(addr string) *espprovv1.ProvisionRequest {
	return &espprovv1.ProvisionRequest{
		Device:   &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: addr},
		Security: &espprovv1.Security{Sec2Username: testUser, Sec2Password: testPoP},
		Wifi:     &espprovv1.WifiCredentials{Ssid: testSSID, Passphrase: testPass},
		Timeouts: fastTimeouts(),
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// drain reads a stream to its end.
func drain[T any](s interface{ Recv() (T, error) }) ([]T, error) {
	var out []T
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

func withCloudUser(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "x-rainmaker-user", cloudUser, "x-rainmaker-password", cloudPass)
}

type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b...)
}

func context2(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithCancel(ctx)
}

func proto2(r *espprovv1.ProvisionRequest) *espprovv1.ProvisionRequest {
	return proto.Clone(r).(*espprovv1.ProvisionRequest)
}

func readLines(t testing.TB, resp *http.Response) []string {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %s", resp.Status, b)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// dial connects a client; the connection closes when the test ends.
func dial(t testing.TB, addr string) (*grpc.ClientConn, espprovv1.ProvisioningServiceClient) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, espprovv1.NewProvisioningServiceClient(conn)
}
