// Package bench measures espprov at scale: it starts a provisioning server
// and a simulated fleet in their own processes (or uses a given server),
// runs N provisions at concurrency C through the public gRPC API and
// reports throughput, latency per step, CPU per provision per process
// against the cryptographic floor of the scheme, round trips and memory.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
)

// Options configure a benchmark run.
type Options struct {
	// Transport is "httpd" (Wi-Fi provisioning over the softAP HTTP
	// transport) or "on-network" (RainMaker challenge-response mapping of
	// devices already on the network, through their on-network service
	// and a simulated cloud; no Wi-Fi, no memory phase).
	Transport string
	// SecVer is the security scheme 0, 1 or 2.
	SecVer int
	// Devices is the number of provisions (N), Concurrency the number run
	// at once (C). The fleet has min(N, C) simulated devices; each is
	// provisioned again and again (it comes back in factory state).
	Devices     int
	Concurrency int
	// Client, when set, is a remote server's API (--server); otherwise a
	// server process is started. ServerPID (optional) lets the benchmark
	// read a local remote server's CPU and memory from /proc.
	Client    espprovv1.ProvisioningServiceClient
	ServerPID int
	// ConnectDelay is the simulated Wi-Fi association time (default 1 ms:
	// instant association); StatusPoll the Wi-Fi status poll interval
	// (default: the service minimum, 10 ms).
	ConnectDelay time.Duration
	StatusPoll   time.Duration
	// FloorTime is how long the crypto floor is measured (default 300 ms).
	FloorTime time.Duration
	// Singles is how many provisions run alone first to measure the
	// latency of one provision without contention (default 5).
	Singles int
	// NoMemory skips the memory phase (min(N, C) provisions parked in
	// flight to measure the server's heap and RSS per session).
	NoMemory bool
	// ProfileDir, when set, receives server.pprof, sim.pprof and
	// client.pprof CPU profiles of the measured run.
	ProfileDir string
	// Spawn starts child processes (required).
	Spawn Spawner
	// Progress receives progress lines while the run goes on (nil: none);
	// ProgressCR rewrites one line with carriage returns (a terminal).
	Progress   io.Writer
	ProgressCR bool
}

// Quantiles are the median and 99th percentile of one step, in ms.
type Quantiles struct {
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
}

// Result is the benchmark's report (one JSON object with --output json).
type Result struct {
	Transport   string `json:"transport"`
	SecVer      int    `json:"sec_ver"`
	Devices     int    `json:"devices"`
	Concurrency int    `json:"concurrency"`
	FleetSize   int    `json:"fleet_size"`
	Server      string `json:"server"` // "process" or the --server address

	Succeeded    int            `json:"succeeded"`
	Errors       int            `json:"errors"`
	ErrorsByCode map[string]int `json:"errors_by_code"`

	DurationSeconds     float64 `json:"duration_seconds"`
	ProvisionsPerSecond float64 `json:"provisions_per_second"`
	P50ms               float64 `json:"p50_ms"`
	P95ms               float64 `json:"p95_ms"`
	P99ms               float64 `json:"p99_ms"`
	MeanMs              float64 `json:"mean_ms"`
	// SingleMs is the median latency of a provision running alone;
	// P50MultipleOfSingle = p50 at this concurrency / SingleMs.
	SingleMs            float64 `json:"single_provision_ms"`
	P50MultipleOfSingle float64 `json:"p50_multiple_of_single"`
	// QueueWait is how long handshakes waited for a slot on the server
	// (the server runs about one per core at once, first come first
	// served); the Admitted* latencies are each provision's latency minus
	// its wait: the latency from admission. In a closed loop of C callers
	// the end-to-end p50 is about C / throughput whatever the server does
	// (Little's law); the latency from admission is what the bound keeps
	// near a provision alone.
	QueueWait                   Quantiles `json:"queue_wait"`
	AdmittedP50ms               float64   `json:"admitted_p50_ms"`
	AdmittedP95ms               float64   `json:"admitted_p95_ms"`
	AdmittedP99ms               float64   `json:"admitted_p99_ms"`
	AdmittedP50MultipleOfSingle float64   `json:"admitted_p50_multiple_of_single"`
	// Steps: the handshake step excludes the queue wait.
	Steps map[string]Quantiles `json:"steps"`

	CPUSecondsPerProvision          float64             `json:"cpu_seconds_per_provision"`
	CPUSecondsPerProvisionByProcess map[string]*float64 `json:"cpu_seconds_per_provision_by_process"`
	FloorCPUSecondsPerProvision     float64             `json:"floor_cpu_seconds_per_provision"`
	CPUFloorMultiple                float64             `json:"cpu_floor_multiple"`
	ServerSimFloorMultiple          *float64            `json:"server_simulator_floor_multiple"`

	RoundTripsPerProvision float64 `json:"round_trips_per_provision"`
	RoundTripsMinimum      int     `json:"round_trips_minimum"`

	// SessionsInFlight provisions were held in flight (waiting for Wi-Fi)
	// while the server's live heap and RSS were measured against its
	// baseline: the growth per session.
	SessionsInFlight    int                `json:"sessions_in_flight"`
	HeapBytesPerSession *float64           `json:"heap_bytes_per_session"`
	RSSBytesPerSession  *float64           `json:"rss_bytes_per_session"`
	PeakRSSBytes        *uint64            `json:"peak_rss_bytes"`
	PeakRSSByProcess    map[string]*uint64 `json:"peak_rss_bytes_by_process"`

	StatusPollMs   float64 `json:"status_poll_ms"`
	ConnectDelayMs float64 `json:"connect_delay_ms"`
	NumCPU         int     `json:"num_cpu"`
	LoadAverage1m  float64 `json:"load_average_1m"`
}

// minRoundTrips is the protocol minimum of one provision per scheme:
// proto-ver, the handshake, then SetConfig, ApplyConfig and one GetStatus
// (httpd) or one ch_resp exchange (on-network).
func minRoundTrips(transport string, secVer int) int {
	after := 3
	if transport == TransportOnNetwork {
		after = 1
	}
	if secVer == 0 {
		return 1 + 1 + after
	}
	return 1 + 2 + after
}

func (o *Options) normalize() error {
	if o.Transport == "" {
		o.Transport = "httpd"
	}
	switch o.Transport {
	case TransportHTTPD:
	case TransportOnNetwork:
		o.NoMemory = true // nothing keeps an on-network mapping in flight
	default:
		return fmt.Errorf("--transport %s: want %s or %s", o.Transport, TransportHTTPD, TransportOnNetwork)
	}
	if o.SecVer < 0 || o.SecVer > 2 {
		return fmt.Errorf("--sec-ver %d: want 0, 1 or 2", o.SecVer)
	}
	if o.Devices < 1 {
		return fmt.Errorf("--devices %d: want at least 1", o.Devices)
	}
	if o.Concurrency < 1 {
		return fmt.Errorf("--concurrency %d: want at least 1", o.Concurrency)
	}
	if o.Concurrency > 5000 {
		return fmt.Errorf("--concurrency %d: at most 5000 (one simulated device listener per concurrent provision)", o.Concurrency)
	}
	if o.ConnectDelay == 0 {
		o.ConnectDelay = time.Millisecond
	}
	if o.StatusPoll == 0 {
		o.StatusPoll = 10 * time.Millisecond
	}
	if o.FloorTime == 0 {
		o.FloorTime = 300 * time.Millisecond
	}
	if o.Singles == 0 {
		o.Singles = 5
	}
	if o.Spawn == nil {
		return errors.New("bench: no way to start child processes")
	}
	return nil
}

// ErrUsage marks an invalid option.
var ErrUsage = errors.New("bench: invalid options")

// Run runs the benchmark.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.normalize(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	fleetSize := min(o.Devices, o.Concurrency)
	r := &Result{Transport: o.Transport, SecVer: o.SecVer, Devices: o.Devices, Concurrency: o.Concurrency,
		FleetSize: fleetSize, Server: "process", ErrorsByCode: map[string]int{}, Steps: map[string]Quantiles{},
		StatusPollMs: ms(o.StatusPoll), ConnectDelayMs: ms(o.ConnectDelay), NumCPU: runtime.NumCPU(),
		LoadAverage1m: loadAverage(), RoundTripsMinimum: minRoundTrips(o.Transport, o.SecVer),
		CPUSecondsPerProvisionByProcess: map[string]*float64{}, PeakRSSByProcess: map[string]*uint64{}}

	parked := 0
	if !o.NoMemory {
		parked = fleetSize
	}
	sim, err := startProc(o.Spawn, RoleSim, simArgs{transport: o.Transport, devices: fleetSize, secVer: o.SecVer, connectDelay: o.ConnectDelay, parked: parked}.args())
	if err != nil {
		return nil, err
	}
	defer sim.close()
	client := o.Client
	var srv *proc
	if client == nil {
		var args []string
		if sim.hello.Cloud != "" {
			args = []string{"-cloud-url", sim.hello.Cloud}
		}
		if srv, err = startProc(o.Spawn, RoleServer, args); err != nil {
			return nil, err
		}
		defer srv.close()
		cc, err := grpc.NewClient(srv.hello.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		defer cc.Close()
		client = espprovv1.NewProvisioningServiceClient(cc)
	} else {
		r.Server = "remote"
	}
	devices := sim.hello.Devices
	if len(devices) != fleetSize {
		return nil, fmt.Errorf("bench: simulator started %d devices, want %d", len(devices), fleetSize)
	}

	if r.FloorCPUSecondsPerProvision, err = MeasureFloor(o.Transport, o.SecVer, o.FloorTime); err != nil {
		return nil, err
	}

	// Provisions alone: the latency without contention (and a warm-up).
	var singles []time.Duration
	for range o.Singles {
		p := provisionOnce(ctx, client, request(devices[0], o))
		if p.err != nil {
			return nil, fmt.Errorf("bench: a single provision failed (is the server reachable?): %w", p.err)
		}
		singles = append(singles, p.total)
	}
	r.SingleMs = ms(quantile(singles, 0.5))

	if !o.NoMemory && srv != nil {
		if err := memoryPhase(ctx, client, srv, sim.hello.Parked, o, r); err != nil {
			return nil, err
		}
	}

	prof := func(name string) string {
		if o.ProfileDir == "" {
			return ""
		}
		p, _ := filepath.Abs(filepath.Join(o.ProfileDir, name))
		return p
	}
	simBase, err := sim.call(control{Cmd: "mark", Profile: prof("sim.pprof")})
	if err != nil {
		return nil, err
	}
	var srvBase Usage
	if srv != nil {
		if srvBase, err = srv.call(control{Cmd: "mark", Profile: prof("server.pprof")}); err != nil {
			return nil, err
		}
	} else if o.ServerPID > 0 {
		srvBase.CPUSeconds, _ = pidCPU(o.ServerPID)
		srvBase.RSSBase, _ = rssOf(fmt.Sprint(o.ServerPID))
	}
	var self sampler
	self.mark(sampleEvery)
	defer self.halt()
	stopProf, err := startClientProfile(prof("client.pprof"))
	if err != nil {
		return nil, err
	}
	clientBase := self.report()

	results := runLoad(ctx, client, devices, o)

	clientEnd := self.report()
	stopProf()
	simEnd, err := sim.call(control{Cmd: "report"})
	if err != nil {
		return nil, err
	}
	var srvEnd Usage
	srvKnown := true
	switch {
	case srv != nil:
		if srvEnd, err = srv.call(control{Cmd: "report"}); err != nil {
			return nil, err
		}
	case o.ServerPID > 0:
		var ok bool
		if srvEnd.CPUSeconds, ok = pidCPU(o.ServerPID); !ok {
			srvKnown = false
		}
		srvEnd.RSSNow, srvEnd.HWM = rssOf(fmt.Sprint(o.ServerPID))
		srvEnd.RSSPeak = max(srvEnd.RSSNow, srvBase.RSSBase)
		srvEnd.RSSBase = srvBase.RSSBase
	default:
		srvKnown = false
	}

	// Latency and errors.
	var totals, waits, admitted []time.Duration
	steps := map[string][]time.Duration{}
	for _, p := range results.items {
		if p.err != nil {
			r.Errors++
			r.ErrorsByCode[status.Code(p.err).String()]++
			continue
		}
		r.Succeeded++
		totals = append(totals, p.total)
		waits = append(waits, p.wait)
		admitted = append(admitted, p.total-p.wait)
		for k, d := range p.steps {
			steps[k] = append(steps[k], d)
		}
	}
	r.DurationSeconds = results.elapsed.Seconds()
	if r.DurationSeconds > 0 {
		r.ProvisionsPerSecond = float64(r.Succeeded) / r.DurationSeconds
	}
	r.P50ms, r.P95ms, r.P99ms = ms(quantile(totals, 0.5)), ms(quantile(totals, 0.95)), ms(quantile(totals, 0.99))
	r.MeanMs = ms(mean(totals))
	r.QueueWait = Quantiles{P50: ms(quantile(waits, 0.5)), P99: ms(quantile(waits, 0.99))}
	r.AdmittedP50ms, r.AdmittedP95ms, r.AdmittedP99ms = ms(quantile(admitted, 0.5)), ms(quantile(admitted, 0.95)), ms(quantile(admitted, 0.99))
	if r.SingleMs > 0 {
		r.P50MultipleOfSingle = r.P50ms / r.SingleMs
		r.AdmittedP50MultipleOfSingle = r.AdmittedP50ms / r.SingleMs
	}
	for k, ds := range steps {
		r.Steps[k] = Quantiles{P50: ms(quantile(ds, 0.5)), P99: ms(quantile(ds, 0.99))}
	}

	// CPU per provision, per process, against the floor.
	n := float64(o.Devices)
	per := func(a, b Usage) *float64 { v := (b.CPUSeconds - a.CPUSeconds) / n; return &v }
	r.CPUSecondsPerProvisionByProcess["client"] = per(clientBase, clientEnd)
	r.CPUSecondsPerProvisionByProcess["simulator"] = per(simBase, simEnd)
	r.CPUSecondsPerProvisionByProcess["server"] = nil
	if srvKnown {
		r.CPUSecondsPerProvisionByProcess["server"] = per(srvBase, srvEnd)
	}
	for _, v := range r.CPUSecondsPerProvisionByProcess {
		if v != nil {
			r.CPUSecondsPerProvision += *v
		}
	}
	if r.FloorCPUSecondsPerProvision > 0 {
		r.CPUFloorMultiple = r.CPUSecondsPerProvision / r.FloorCPUSecondsPerProvision
		if srvKnown {
			v := (*r.CPUSecondsPerProvisionByProcess["server"] + *r.CPUSecondsPerProvisionByProcess["simulator"]) / r.FloorCPUSecondsPerProvision
			r.ServerSimFloorMultiple = &v
		}
	}
	r.RoundTripsPerProvision = float64(simEnd.Exchanges-simBase.Exchanges) / n

	if srvKnown {
		r.PeakRSSBytes = ptr(max(srvEnd.RSSPeak, srvEnd.HWM))
		r.PeakRSSByProcess["server"] = r.PeakRSSBytes
	} else {
		r.PeakRSSByProcess["server"] = nil
	}
	r.PeakRSSByProcess["simulator"] = ptr(max(simEnd.RSSPeak, simEnd.HWM))
	r.PeakRSSByProcess["client"] = ptr(max(clientEnd.RSSPeak, clientEnd.HWM))
	if err := ctx.Err(); err != nil {
		return r, err
	}
	return r, nil
}

func ptr[T any](v T) *T { return &v }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s)) + 0.999999)
	return s[min(max(i-1, 0), len(s)-1)]
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t / time.Duration(len(ds))
}

func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var v float64
	fmt.Sscan(string(b), &v)
	return v
}

func request(addr string, o Options) *espprovv1.ProvisionRequest {
	sec := &espprovv1.Security{}
	switch o.SecVer {
	case 0:
		sec.Scheme = espprovv1.SecurityScheme_SECURITY_SCHEME_0
	case 1:
		sec.Scheme, sec.Pop = espprovv1.SecurityScheme_SECURITY_SCHEME_1, PoP
	case 2:
		sec.Scheme, sec.Sec2Username, sec.Sec2Password = espprovv1.SecurityScheme_SECURITY_SCHEME_2, SRPUsername, SRPPassword
	}
	if o.Transport == TransportOnNetwork {
		keep := false // disabling would stop the standalone service: the device is mapped again and again
		return &espprovv1.ProvisionRequest{
			Device:   &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_ON_NETWORK, Address: addr},
			Security: sec,
			NoWifi:   true,
			Mapping:  &espprovv1.Mapping{Enabled: true, DisableChalResp: &keep},
			Timeouts: &espprovv1.Timeouts{Overall: durationpb.New(2 * time.Minute)},
		}
	}
	return &espprovv1.ProvisionRequest{
		Device:   &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: addr},
		Security: sec,
		Wifi:     &espprovv1.WifiCredentials{Ssid: SSID, Passphrase: Passphrase},
		Timeouts: &espprovv1.Timeouts{StatusPoll: durationpb.New(o.StatusPoll), Overall: durationpb.New(2 * time.Minute)},
	}
}

// outcome is one provision as the client saw it.
type outcome struct {
	total time.Duration
	// wait is how long the handshake queued for a slot on the server
	// (ProvisionResponse.handshake_wait); total - wait is the latency from
	// admission.
	wait  time.Duration
	steps map[string]time.Duration
	err   error
}

// stepNames name the interval that ends with each event.
var stepNames = map[espprovv1.Step]string{
	espprovv1.Step_STEP_CONNECTING:          "request",
	espprovv1.Step_STEP_SECURITY_DETECTED:   "connect_proto_ver",
	espprovv1.Step_STEP_SESSION_ESTABLISHED: "handshake",
	espprovv1.Step_STEP_MAPPING:             "mapping",
	espprovv1.Step_STEP_CREDENTIALS_SENT:    "set_config",
	espprovv1.Step_STEP_CONFIG_APPLIED:      "apply_config",
	espprovv1.Step_STEP_WIFI_STATE:          "wifi_status",
	espprovv1.Step_STEP_RESULT:              "result",
}

func provisionOnce(ctx context.Context, c espprovv1.ProvisioningServiceClient, req *espprovv1.ProvisionRequest) outcome {
	start := time.Now()
	out := outcome{steps: make(map[string]time.Duration, len(stepNames))}
	stream, err := c.Provision(ctx, req)
	if err != nil {
		out.err = err
		return out
	}
	prev := start
	var last *espprovv1.ProvisionResponse
	for {
		ev, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			out.err = err
			return out
		}
		at := ev.GetTime().AsTime()
		if ev.GetTime() == nil || at.Before(prev) {
			at = time.Now()
		}
		if name, ok := stepNames[ev.GetStep()]; ok {
			d := at.Sub(prev)
			if w := ev.GetHandshakeWait(); w != nil {
				out.wait = min(w.AsDuration(), d)
				d -= out.wait
			}
			out.steps[name] += d
		}
		prev = at
		last = ev
	}
	out.total = time.Since(start)
	switch {
	case !last.GetResult().GetSuccess():
		out.err = fmt.Errorf("bench: provision ended without success: %s", last.GetMessage())
	case req.GetMapping().GetEnabled() && !last.GetResult().GetMapped():
		out.err = fmt.Errorf("bench: provision ended without the node mapped: %s", last.GetMessage())
	}
	return out
}

type loadResult struct {
	items   []outcome
	elapsed time.Duration
}

// runLoad runs o.Devices provisions, o.Concurrency at a time; worker w
// provisions device w of the fleet again and again.
func runLoad(ctx context.Context, c espprovv1.ProvisioningServiceClient, devices []string, o Options) loadResult {
	items := make([]outcome, o.Devices)
	var next, done, failed atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := range min(o.Concurrency, o.Devices) {
		req := request(devices[w%len(devices)], o)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(o.Devices) || ctx.Err() != nil {
					return
				}
				items[i] = provisionOnce(ctx, c, req)
				if items[i].err != nil {
					failed.Add(1)
				}
				done.Add(1)
			}
		}()
	}
	stop := make(chan struct{})
	var pw sync.WaitGroup
	if o.Progress != nil {
		pw.Add(1)
		go func() {
			defer pw.Done()
			t := time.NewTicker(500 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					progress(o, done.Load(), failed.Load(), time.Since(start), true)
					return
				case <-t.C:
					progress(o, done.Load(), failed.Load(), time.Since(start), false)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stop)
	pw.Wait()
	n := int(next.Load())
	return loadResult{items: items[:min(n, o.Devices)], elapsed: elapsed}
}

func progress(o Options, done, failed int64, elapsed time.Duration, final bool) {
	rate := float64(done) / max(elapsed.Seconds(), 1e-9)
	line := fmt.Sprintf("bench: %d/%d provisions, %d errors, %.0f/s, %s", done, o.Devices, failed, rate, elapsed.Round(100*time.Millisecond))
	switch {
	case o.ProgressCR && final:
		fmt.Fprintf(o.Progress, "\r%s\n", line)
	case o.ProgressCR:
		fmt.Fprintf(o.Progress, "\r%s", line)
	default:
		fmt.Fprintln(o.Progress, line)
	}
}

func startClientProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	return startCPUProfile(path)
}

// String renders the result as a table.
func (r *Result) String() string {
	var b strings.Builder
	f := func(k, format string, a ...any) { fmt.Fprintf(&b, "%-40s "+format+"\n", append([]any{k}, a...)...) }
	opt := func(v *float64, format string) string {
		if v == nil {
			return "n/a"
		}
		return fmt.Sprintf(format, *v)
	}
	optU := func(v *uint64) string {
		if v == nil {
			return "n/a"
		}
		return fmt.Sprintf("%.1f MiB", float64(*v)/(1<<20))
	}
	f("transport / security", "%s / %d", r.Transport, r.SecVer)
	f("provisions / concurrency / fleet", "%d / %d / %d (server: %s)", r.Devices, r.Concurrency, r.FleetSize, r.Server)
	f("succeeded / errors", "%d / %d %v", r.Succeeded, r.Errors, r.ErrorsByCode)
	f("provisions per second", "%.1f (%.2f s)", r.ProvisionsPerSecond, r.DurationSeconds)
	f("latency p50 / p95 / p99", "%.1f / %.1f / %.1f ms", r.P50ms, r.P95ms, r.P99ms)
	f("one provision alone (p50)", "%.1f ms (p50 here = %.2fx)", r.SingleMs, r.P50MultipleOfSingle)
	f("handshake queue wait p50 / p99", "%.1f / %.1f ms", r.QueueWait.P50, r.QueueWait.P99)
	f("latency from admission p50 / p95 / p99", "%.1f / %.1f / %.1f ms (p50 = %.2fx alone)", r.AdmittedP50ms, r.AdmittedP95ms, r.AdmittedP99ms, r.AdmittedP50MultipleOfSingle)
	names := make([]string, 0, len(r.Steps))
	for k := range r.Steps {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return stepOrder(names[i]) < stepOrder(names[j]) })
	for _, k := range names {
		f("  step "+k+" p50 / p99", "%.2f / %.2f ms", r.Steps[k].P50, r.Steps[k].P99)
	}
	f("CPU per provision (all processes)", "%.3f ms = %.2fx the crypto floor (%.3f ms)", r.CPUSecondsPerProvision*1e3, r.CPUFloorMultiple, r.FloorCPUSecondsPerProvision*1e3)
	for _, p := range []string{"server", "simulator", "client"} {
		v := r.CPUSecondsPerProvisionByProcess[p]
		if v != nil {
			f("  CPU "+p, "%.3f ms", *v*1e3)
		} else {
			f("  CPU "+p, "n/a")
		}
	}
	f("server + simulator / floor", "%s", opt(r.ServerSimFloorMultiple, "%.2fx"))
	f("round trips per provision", "%.2f (protocol minimum %d)", r.RoundTripsPerProvision, r.RoundTripsMinimum)
	f("server heap / RSS per session in flight", "%s / %s bytes (%d in flight)", opt(r.HeapBytesPerSession, "%.0f"), opt(r.RSSBytesPerSession, "%.0f"), r.SessionsInFlight)
	f("peak RSS server / simulator / client", "%s / %s / %s", optU(r.PeakRSSByProcess["server"]), optU(r.PeakRSSByProcess["simulator"]), optU(r.PeakRSSByProcess["client"]))
	f("machine", "%d CPUs, load average %.2f at start", r.NumCPU, r.LoadAverage1m)
	return b.String()
}

func stepOrder(name string) int {
	for _, s := range []espprovv1.Step{espprovv1.Step_STEP_CONNECTING, espprovv1.Step_STEP_SECURITY_DETECTED,
		espprovv1.Step_STEP_SESSION_ESTABLISHED, espprovv1.Step_STEP_MAPPING, espprovv1.Step_STEP_CREDENTIALS_SENT, espprovv1.Step_STEP_CONFIG_APPLIED,
		espprovv1.Step_STEP_WIFI_STATE, espprovv1.Step_STEP_RESULT} {
		if stepNames[s] == name {
			return int(s)
		}
	}
	return 1 << 20
}

// memoryPhase holds one provision per parked device in flight (each waits
// for a Wi-Fi association that takes an hour), measures the server's live
// heap and resident set against its baseline, then cancels them all.
func memoryPhase(ctx context.Context, c espprovv1.ProvisioningServiceClient, srv *proc, parked []string, o Options, r *Result) error {
	base, err := srv.call(control{Cmd: "mark"})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	waiting := make(chan error, len(parked))
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for _, addr := range parked {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream, err := c.Provision(ctx, request(addr, o))
			if err != nil {
				waiting <- err
				return
			}
			signalled := false
			for {
				ev, err := stream.Recv()
				if err != nil {
					if !signalled {
						waiting <- fmt.Errorf("bench: parked provision ended before waiting for Wi-Fi: %w", err)
					}
					return
				}
				if ev.GetStep() == espprovv1.Step_STEP_WIFI_STATE && !signalled {
					signalled = true
					waiting <- nil
				}
			}
		}()
	}
	timeout := time.After(time.Minute + time.Duration(len(parked))*20*time.Millisecond)
	for range parked {
		select {
		case err := <-waiting:
			if err != nil {
				return err
			}
		case <-timeout:
			return errors.New("bench: memory phase: provisions did not all reach the Wi-Fi wait in time")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	u, err := srv.call(control{Cmd: "report", GC: true})
	if err != nil {
		return err
	}
	n := float64(len(parked))
	r.SessionsInFlight = len(parked)
	r.HeapBytesPerSession = ptr(float64(int64(u.HeapPeak)-int64(base.HeapBase)) / n)
	r.RSSBytesPerSession = ptr(float64(int64(u.RSSNow)-int64(base.RSSBase)) / n)
	return nil
}
