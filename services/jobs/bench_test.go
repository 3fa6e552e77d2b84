package jobs_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/jobstore"
	"github.com/espprov/espprov/internal/jobstore/jobstoretest"
	"github.com/espprov/espprov/internal/server"
	"github.com/espprov/espprov/internal/sim/device"
	"github.com/espprov/espprov/internal/sim/fleet"
	"github.com/espprov/espprov/services/jobs"
	"github.com/espprov/espprov/services/provisioning"
)

// benchConcurrency is the number of jobs recorded or provisionings run at once.
const benchConcurrency = 64

// parallel64 runs f on benchConcurrency goroutines, b.N times in all.
func parallel64(b *testing.B, unit string, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range benchConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

// recordOne writes what a real Security 2 Wi-Fi job writes: the job, nine
// events each in its own transaction, the final event with the result.
func recordOne(b *testing.B, st jobstore.Store, i int) {
	ctx := context.Background()
	now := time.Now()
	j := &espprovv1.Job{JobId: fmt.Sprintf("bench-%d-%d", now.UnixNano(), i), State: espprovv1.JobState_JOB_STATE_QUEUED,
		CreateTime: timestamppb.New(now), SerialNumber: fmt.Sprintf("SN-%d", i), WorkOrder: "WO-bench",
		Device:  &espprovv1.JobDevice{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: fmt.Sprintf("10.0.%d.%d:80", i/250%250, i%250)},
		Request: &espprovv1.ProvisionRequest{Wifi: &espprovv1.WifiCredentials{Ssid: "FactoryNet"}}}
	if _, err := st.Create(ctx, jobstore.Record{Job: j, Fingerprint: "f"}); err != nil {
		b.Error(err)
		return
	}
	steps := []espprovv1.Step{espprovv1.Step_STEP_CONNECTING, espprovv1.Step_STEP_SECURITY_DETECTED, espprovv1.Step_STEP_SESSION_ESTABLISHED,
		espprovv1.Step_STEP_CREDENTIALS_SENT, espprovv1.Step_STEP_CONFIG_APPLIED, espprovv1.Step_STEP_WIFI_STATE, espprovv1.Step_STEP_WIFI_STATE, espprovv1.Step_STEP_RESULT}
	j.State = espprovv1.JobState_JOB_STATE_RUNNING
	for k, s := range steps {
		j.LastSequence = uint64(k + 1)
		ev := &espprovv1.ProvisionResponse{Step: s, Time: timestamppb.Now(), Message: "Wi-Fi state: Connecting", JobId: j.JobId, Sequence: j.LastSequence}
		if s == espprovv1.Step_STEP_RESULT {
			ev.Result = &espprovv1.Result{Success: true, Ip4Address: "192.168.1.7", Ssid: "FactoryNet"}
			j.State, j.Result, j.EndTime = espprovv1.JobState_JOB_STATE_SUCCEEDED, ev.Result, ev.Time
			ev.JobState = j.State
		} else {
			j.LastConfirmedStep = s
		}
		if _, err := st.Append(ctx, j, ev); err != nil {
			b.Error(err)
			return
		}
	}
}

// BenchmarkRecordJobs: jobs recorded per second (jobs/s) by each store with
// 64 jobs writing at once.
func BenchmarkRecordJobs(b *testing.B) {
	for _, k := range []storeKind{sqliteKind(b.TempDir()), postgresKind(jobstoretest.PostgresDSN(b))} {
		b.Run(k.name, func(b *testing.B) {
			st, _ := k.open(b, jobs.NewInstanceID())
			defer st.Close()
			parallel64(b, "jobs/s", func(i int) { recordOne(b, st, i) })
		})
	}
}

// BenchmarkFleet provisions a simulated fleet with 64 provisionings at once
// through the bare service and through jobs on each store; devices/s is
// the fleet's throughput (recording must cost it less than 10 %).
func BenchmarkFleet(b *testing.B) {
	f, err := fleet.Start(context.Background(), fleet.Options{N: benchConcurrency, Template: device.Config{
		SecVer: 2, SecPatchVer: 1, SRPUsername: testUser, SRPPassword: testPoP,
		APs: testAPs, ConnectDelay: 5 * time.Millisecond, CleanupDelay: 20 * time.Millisecond, NoAutoStop: true,
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	devs := f.Devices()
	type variant struct {
		name string
		svc  func(b *testing.B, svc *provisioning.Service) espprovv1.ProvisioningServiceServer
	}
	withJobs := func(k storeKind) func(*testing.B, *provisioning.Service) espprovv1.ProvisioningServiceServer {
		return func(b *testing.B, svc *provisioning.Service) espprovv1.ProvisioningServiceServer {
			st, _ := k.open(b, jobs.NewInstanceID())
			r, err := jobs.New(context.Background(), jobs.Config{Store: st, Service: svc, DeviceKey: svc.DeviceKey, WantsMapping: provisioning.WantsMapping})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = r.Shutdown(context.Background()); _ = st.Close() })
			return jobs.NewServer(svc, r)
		}
	}
	variants := []variant{
		{"bare", func(_ *testing.B, svc *provisioning.Service) espprovv1.ProvisioningServiceServer { return svc }},
		{"jobs-sqlite", withJobs(sqliteKind(b.TempDir()))},
		{"jobs-postgres", withJobs(postgresKind(jobstoretest.PostgresDSN(b)))},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			svc := provisioning.New(provisioning.Config{Modules: provisioning.DefaultModules()})
			srv, err := server.Start(context.Background(), server.Options{GRPCListen: "127.0.0.1:0", Service: v.svc(b, svc)})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Shutdown(context.Background())
			h := &harness{srv: srv}
			h.conn, h.client = dial(b, srv.GRPCAddr())
			locks := make([]sync.Mutex, len(devs))
			parallel64(b, "devices/s", func(i int) {
				k := i % len(devs)
				m := devs[k]
				locks[k].Lock()
				defer locks[k].Unlock()
				m.Device.Reset()
				req := provisionReq(m.Addr)
				req.Timeouts.StatusPoll = durationpb.New(10 * time.Millisecond)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				s, err := h.client.Provision(ctx, req)
				if err != nil {
					b.Error(err)
					return
				}
				evs, err := drain[*espprovv1.ProvisionResponse](s)
				if err != nil || !evs[len(evs)-1].GetResult().GetSuccess() {
					b.Errorf("%s: %v", m.Device.Name(), err)
				}
			})
		})
	}
}
