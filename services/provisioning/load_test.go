package provisioning_test

import (
	"context"
	"errors"
	"io"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/leakcheck"
	"github.com/espprov/espprov/internal/sim/device"
	"github.com/espprov/espprov/internal/sim/fleet"
)

// resident is this process's resident set in bytes.
func resident(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// loadFaults are given in turn to every 10th device.
var loadFaults = []device.Fault{
	{Kind: device.FaultDrop, Step: device.StepSetConfig},
	{Kind: device.FaultStall, Step: device.StepSession0},
	{Kind: device.FaultGarbage, Step: device.StepSession1},
	{Kind: device.FaultNotFound, Step: device.StepWifi},
	{Kind: device.FaultTruncate, Step: device.StepApplyConfig},
}

// TestLoad runs 200 Provision streams at once against a simulated fleet in
// which every 10th device is faulty and every 4th caller cancels mid-stream.
// Every stream must end with success or a typed status, within the bound,
// and afterwards no goroutine may be left and the resident set must be
// back within 10 % of where it started.
func TestLoad(t *testing.T) {
	const n = 200
	h := startServer(t)
	f, err := fleet.Start(context.Background(), fleet.Options{N: n,
		Template: device.Config{SecVer: 1, PoP: testPoP, APs: testAPs, ConnectDelay: 5 * time.Millisecond, NoAutoStop: true},
		Configure: func(i int, c *device.Config) {
			if i%10 == 0 {
				c.Faults = []device.Fault{loadFaults[(i/10)%len(loadFaults)]}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	devs := f.Devices()
	req := func(i int) *espprovv1.ProvisionRequest {
		r := provisionReq(devs[i].Addr, &espprovv1.Security{Pop: testPoP}, testSSID, testPass)
		r.Timeouts.Exchange = durationpb.New(3 * time.Second)
		r.Timeouts.StatusPoll = durationpb.New(20 * time.Millisecond)
		return r
	}
	// Two rounds warm the server up to this load (connection buffers,
	// the runtime's metadata for a heap of this size); the devices are then
	// reset (faults re-armed) and the second round must leave nothing
	// behind: goroutines, or memory beyond 10 % of where it started.
	for range 2 {
		loadRound(t, h.client, devs, req)
		for _, m := range devs {
			m.Device.Reset()
		}
	}
	leakBase := goleak.IgnoreCurrent()
	debug.FreeOSMemory()
	rssStart := resident(t)
	before := memClasses()
	loadRound(t, h.client, devs, req)

	// Nothing left behind: the server's per-call goroutines and the
	// simulator's connections end once the streams did.
	if err := goleak.Find(append(leakcheck.Options(), leakBase)...); err != nil {
		t.Errorf("goroutines left after the load: %v", err)
	}
	// The simulated devices keep their last session (handshake state and
	// cipher, about 1 KB each): drop it as at the start.
	for _, m := range devs {
		m.Device.Reset()
	}
	debug.FreeOSMemory()
	rssEnd := resident(t)
	after := memClasses()
	for k, v := range after {
		if d := int64(v) - int64(before[k]); d > 64<<10 || d < -64<<10 {
			t.Logf("%s: %+d KiB", k, d>>10)
		}
	}
	t.Logf("RSS %d KiB at the start, %d KiB after", rssStart>>10, rssEnd>>10)
	if raceEnabled {
		// The race detector keeps bookkeeping for every goroutine and lock
		// it saw (about 1.5 MiB a round here, none without it): make test
		// also runs this test without -race, where the bound is checked.
		t.Log("memory bound checked in the run without -race (make test runs TestLoad both ways)")
		return
	}
	if rssEnd > rssStart+rssStart/10 {
		t.Errorf("RSS %d KiB after the load, more than 10%% above the %d KiB at the start", rssEnd>>10, rssStart>>10)
	}
}

// loadRound runs one Provision stream per device at once and checks how
// each ended.
func loadRound(t *testing.T, c espprovv1.ProvisioningServiceClient, devs []fleet.Member, req func(int) *espprovv1.ProvisionRequest) {
	t.Helper()
	n := len(devs)
	type outcome struct {
		ok     bool
		code   codes.Code
		events int
		err    error
	}
	out := make([]outcome, n)
	ctx, cancelAll := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancelAll()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			cancels := i%4 == 1
			stream, err := c.Provision(cctx, req(i))
			if err != nil {
				out[i] = outcome{code: status.Code(err), err: err}
				return
			}
			var last *espprovv1.ProvisionResponse
			for {
				ev, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					out[i] = outcome{ok: last.GetResult().GetSuccess(), events: out[i].events}
					return
				}
				if err != nil {
					out[i] = outcome{code: status.Code(err), err: err, events: out[i].events}
					return
				}
				out[i].events++
				last = ev
				if cancels && ev.GetStep() == espprovv1.Step_STEP_SESSION_ESTABLISHED {
					cancel() // the caller goes away mid-stream
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if elapsed > 60*time.Second {
		t.Errorf("load took %s, bound 60 s", elapsed)
	}
	counts := map[string]int{}
	for i, o := range out {
		faulty, cancels := i%10 == 0, i%4 == 1
		switch {
		case o.ok:
			counts["success"]++
			if cancels && o.events > 3 {
				// Cancelled after the session: a success is possible only
				// if the result raced the cancellation.
				counts["success despite cancel"]++
			}
		case o.code == codes.Unknown || o.code == codes.Internal || o.code == codes.OK:
			t.Errorf("device %d: untyped end %v (%v)", i, o.code, o.err)
		default:
			counts[o.code.String()]++
		}
		if !faulty && !cancels && !o.ok {
			t.Errorf("healthy device %d, caller stayed: %v", i, o.err)
		}
		if cancels && !o.ok && o.code != codes.Canceled && !faulty {
			t.Errorf("device %d: cancelled caller ended with %v", i, o.err)
		}
		if faulty && !cancels && o.ok {
			t.Errorf("faulty device %d (%v) succeeded", i, devs[i].Config.Faults)
		}
	}
	t.Logf("%d streams in %s: %v", n, elapsed.Round(time.Millisecond), counts)

}

// memClasses reads the runtime's memory classes.
func memClasses() map[string]uint64 {
	var s []metrics.Sample
	for _, d := range metrics.All() {
		if strings.HasPrefix(d.Name, "/memory/classes/") || d.Name == "/gc/heap/live:bytes" || d.Name == "/sched/goroutines:goroutines" {
			s = append(s, metrics.Sample{Name: d.Name})
		}
	}
	metrics.Read(s)
	m := map[string]uint64{}
	for _, x := range s {
		m[x.Name] = x.Value.Uint64()
	}
	return m
}
