package provisioning_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/sim/device"
	"github.com/espprov/espprov/internal/sim/fleet"
)

func startFleet(t testing.TB, n int) *fleet.Fleet {
	t.Helper()
	f, err := fleet.Start(context.Background(), fleet.Options{N: n, Template: device.Config{
		SecVer: 2, SecPatchVer: 1, SRPUsername: testUser, SRPPassword: testPoP,
		APs: testAPs, ConnectDelay: 5 * time.Millisecond, CleanupDelay: 20 * time.Millisecond, NoAutoStop: true,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

func fleetReq(m fleet.Member) *espprovv1.ProvisionRequest {
	req := provisionReq(m.Addr, &espprovv1.Security{Sec2Username: testUser, Sec2Password: testPoP}, testSSID, testPass)
	req.Timeouts.StatusPoll = durationpb.New(10 * time.Millisecond)
	return req
}

// TestProvisionFleetConcurrently provisions many devices at once through one
// server: every device ends connected with its own IP.
func TestProvisionFleetConcurrently(t *testing.T) {
	h := startServer(t)
	f := startFleet(t, 12)
	var wg sync.WaitGroup
	errs := make(chan error, len(f.Devices()))
	for _, m := range f.Devices() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			events, err := collect(t, h.client, fleetReq(m))
			if err != nil {
				errs <- fmt.Errorf("%s: %w", m.Device.Name(), err)
				return
			}
			if res := events[len(events)-1].GetResult(); !res.GetSuccess() || res.GetIp4Address() != m.Config.StationIP {
				errs <- fmt.Errorf("%s: result %v", m.Device.Name(), res)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	seen := map[string]bool{}
	for _, m := range f.Devices() {
		if ip := m.Config.StationIP; seen[ip] {
			t.Errorf("two devices share station IP %s", ip)
		} else {
			seen[ip] = true
		}
	}
}

// BenchmarkProvisionFleet provisions a fleet of Security 2 devices in
// parallel through one server; ns/op is per device.
func BenchmarkProvisionFleet(b *testing.B) {
	h := startServer(b)
	f := startFleet(b, 32)
	devs := f.Devices()
	locks := make([]sync.Mutex, len(devs)) // one provisioning per device at a time
	var next sync.Mutex
	i := 0
	b.ReportAllocs()
	b.SetParallelism(8) // 16 concurrent provisionings on 2 cores
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			next.Lock()
			k := i % len(devs)
			i++
			next.Unlock()
			m := devs[k]
			locks[k].Lock()
			m.Device.Reset()
			events, err := collect(b, h.client, fleetReq(m))
			locks[k].Unlock()
			if err != nil || !events[len(events)-1].GetResult().GetSuccess() {
				b.Errorf("%s: %v", m.Device.Name(), err)
				return
			}
		}
	})
}
