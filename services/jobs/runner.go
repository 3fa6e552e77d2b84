// Package jobs makes every provisioning a job with a durable record: a
// Runner owns each job's goroutine, runs the provisioning service's
// Provision for it (detached from the caller, bounded by a server-side
// deadline) and records every event in a jobstore.Store; Server is the
// gRPC face (Provision, GetJob, WatchJob, ListJobs, CancelJob, ExportJobs),
// thin readers and writers of jobs. The protocol code knows nothing of jobs.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/identity"
	"github.com/espprov/espprov/internal/jobstore"
	"github.com/espprov/espprov/services/provisioning"
)

// Provisioner is the service the runner wraps.
type Provisioner interface {
	Provision(*espprovv1.ProvisionRequest, grpc.ServerStreamingServer[espprovv1.ProvisionResponse]) error
}

// Checker validates a request without I/O (provisioning.Service has it).
type Checker interface {
	CheckProvision(*espprovv1.ProvisionRequest) error
}

// ProfileApplier fills a request from its station profile
// (provisioning.Service has it).
type ProfileApplier interface {
	ApplyProfile(*espprovv1.ProvisionRequest) (*espprovv1.ProvisionRequest, error)
}

// Limit bounds one transport: jobs running at once per slot (a BLE adapter,
// all soft-AP jobs, …) and jobs waiting for a slot.
type Limit struct {
	Concurrent int
	Waiting    int
}

// DefaultLimits: one BLE connection per adapter and one soft-AP network at
// a time (the host joins the device's access point); a serial port is one
// device (the device lock serialises it); HTTP on a shared network and
// on-network devices in parallel.
func DefaultLimits() map[espprovv1.Transport]Limit {
	return map[espprovv1.Transport]Limit{
		espprovv1.Transport_TRANSPORT_BLE:        {Concurrent: 1, Waiting: 32},
		espprovv1.Transport_TRANSPORT_SOFTAP:     {Concurrent: 1, Waiting: 32},
		espprovv1.Transport_TRANSPORT_CONSOLE:    {Concurrent: 16, Waiting: 32},
		espprovv1.Transport_TRANSPORT_HTTPD:      {Concurrent: 64, Waiting: 256},
		espprovv1.Transport_TRANSPORT_ON_NETWORK: {Concurrent: 64, Waiting: 256},
	}
}

// Config configures a Runner.
type Config struct {
	Store   jobstore.Store
	Service Provisioner
	// Instance names this server in job records (default: random).
	Instance string
	Logger   *slog.Logger
	// Limits per transport (missing transports: DefaultLimits).
	Limits map[espprovv1.Transport]Limit
	// MaxDuration bounds a job however its request's timeouts are set
	// (default 15 min).
	MaxDuration time.Duration
	// RetryAfter is the hint given with RESOURCE_EXHAUSTED (default 5 s).
	RetryAfter time.Duration
	// RecoverEvery is how often jobs of instances that died are marked
	// interrupted (besides at start); 0 means only at start.
	RecoverEvery time.Duration
	// DeviceKey names the device of a request (provisioning.Service.DeviceKey).
	DeviceKey func(context.Context, *espprovv1.Device) string
	// WantsMapping tells whether a request maps the node (provisioning.WantsMapping).
	WantsMapping func(*espprovv1.ProvisionRequest) bool
	// Queue, when set, is told how many jobs wait for a slot after each
	// change, per slot ("httpd", "ble/hci0", …); espprovd passes its
	// metrics (espprov_queue_depth).
	Queue QueueObserver
}

// QueueObserver receives queue depths (the server's metrics implement it;
// this package does not import them).
type QueueObserver interface {
	QueueDepth(transport string, depth int)
}

// Runner runs jobs.
type Runner struct {
	cfg    Config
	store  jobstore.Store
	log    *slog.Logger
	limits map[espprovv1.Transport]Limit

	mu      sync.Mutex
	runs    map[string]*run   // unfinished jobs of this instance
	devices map[string]string // device key → job id
	slots   map[string]*slot  // per transport slot key
	closed  bool
	wg      sync.WaitGroup
	// hardStop: Shutdown's grace ran out; jobs stopped now are interrupted.
	hardStop atomic.Bool

	stopRecover context.CancelFunc
}

type slot struct {
	sem     chan struct{}
	pending int // running + waiting
	waiting int
	name    string // for QueueObserver
}

// queued adds d to the jobs waiting in s and reports the new depth.
func (r *Runner) queued(s *slot, d int) {
	r.mu.Lock()
	s.waiting += d
	n := s.waiting
	r.mu.Unlock()
	if r.cfg.Queue != nil {
		r.cfg.Queue.QueueDepth(s.name, n)
	}
}

// New starts a runner: it marks the unfinished jobs of dead instances
// interrupted before accepting work.
func New(ctx context.Context, cfg Config) (*Runner, error) {
	if cfg.Store == nil || cfg.Service == nil {
		return nil, errors.New("jobs: runner needs a store and a service")
	}
	if cfg.Instance == "" {
		cfg.Instance = NewInstanceID()
	}
	if cfg.MaxDuration <= 0 {
		cfg.MaxDuration = 15 * time.Minute
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 5 * time.Second
	}
	if cfg.DeviceKey == nil {
		cfg.DeviceKey = func(context.Context, *espprovv1.Device) string { return "" }
	}
	if cfg.WantsMapping == nil {
		cfg.WantsMapping = func(r *espprovv1.ProvisionRequest) bool { return r.GetMapping().GetEnabled() }
	}
	r := &Runner{cfg: cfg, store: cfg.Store, log: cfg.Logger, limits: DefaultLimits(),
		runs: map[string]*run{}, devices: map[string]string{}, slots: map[string]*slot{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	for k, v := range cfg.Limits {
		r.limits[k] = v
	}
	if err := r.RecoverOrphans(ctx); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	r.stopRecover = cancel
	if cfg.RecoverEvery > 0 {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			t := time.NewTicker(cfg.RecoverEvery)
			defer t.Stop()
			for {
				select {
				case <-rctx.Done():
					return
				case <-t.C:
					if err := r.RecoverOrphans(rctx); err != nil && rctx.Err() == nil {
						r.log.Warn("marking jobs of stopped instances interrupted", "error", err)
					}
				}
			}
		}()
	}
	return r, nil
}

// Instance is this runner's instance id.
func (r *Runner) Instance() string { return r.cfg.Instance }

// NewInstanceID returns a fresh random instance id.
func NewInstanceID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "i-" + hex.EncodeToString(b[:])
}

func newJobID(t time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "job-" + strconv.FormatInt(t.UnixMilli(), 36) + "-" + hex.EncodeToString(b[:])
}

// storeCtx bounds a store write that must happen even when the job's or
// caller's context has ended.
func storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// RecoverOrphans records the unfinished jobs of instances that stopped
// (crash, kill -9, restart) as interrupted, with their last confirmed step.
func (r *Runner) RecoverOrphans(ctx context.Context) error {
	orphans, err := r.store.Orphans(ctx)
	if err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	for _, j := range orphans {
		msg := fmt.Sprintf("interrupted: espprovd instance %s stopped while the job was %s (last confirmed step %s); check the device (it may need a reset) and retry with a new request_id",
			j.GetInstance(), stateWord(j.GetState()), j.GetLastConfirmedStep())
		res := j.GetResult()
		if res == nil {
			res = &espprovv1.Result{}
		}
		res.Success, res.ErrorCode, res.Error = false, codes.Aborted.String(), msg
		ev := &espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_RESULT, Message: msg, Result: res}
		finish(j, ev, espprovv1.JobState_JOB_STATE_INTERRUPTED, time.Now())
		if _, err := r.store.Append(ctx, j, ev); err != nil && !errors.Is(err, jobstore.ErrConflict) {
			return fmt.Errorf("jobs: recording job %s interrupted: %w", j.GetJobId(), err)
		}
		r.log.Warn("job interrupted by a stopped instance", "job", j.GetJobId(), "instance", j.GetInstance(), "last_step", j.GetLastConfirmedStep().String())
	}
	return nil
}

func stateWord(s espprovv1.JobState) string {
	if s == espprovv1.JobState_JOB_STATE_QUEUED {
		return "queued"
	}
	return "running"
}

// finish stamps the final event and the job's end.
func finish(j *espprovv1.Job, ev *espprovv1.ProvisionResponse, st espprovv1.JobState, now time.Time) {
	j.LastSequence++
	ev.JobId, ev.Sequence, ev.JobState = j.GetJobId(), j.GetLastSequence(), st
	if ev.Time == nil {
		ev.Time = ts(now)
	}
	j.State, j.EndTime, j.UpdateTime = st, ts(now), ts(now)
	j.Result = ev.GetResult()
	if st != espprovv1.JobState_JOB_STATE_SUCCEEDED {
		res := ev.GetResult()
		switch {
		case res == nil:
		case st == espprovv1.JobState_JOB_STATE_CANCELLED:
			res.FailureClass = espprovv1.FailureClass_FAILURE_CLASS_CANCELLED
		case st == espprovv1.JobState_JOB_STATE_INTERRUPTED:
			res.FailureClass = espprovv1.FailureClass_FAILURE_CLASS_OTHER // the server stopped (its state says so)
		case res.FailureClass == espprovv1.FailureClass_FAILURE_CLASS_UNSPECIFIED:
			res.FailureClass = provisioning.FailureClassOf(codeNamed(res.GetErrorCode()))
		}
		j.Error = &espprovv1.JobError{Code: res.GetErrorCode(), Message: res.GetError(), FailureClass: res.GetFailureClass()}
	}
}

// errorf builds a status.
func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func exhausted(retry time.Duration, format string, args ...any) error {
	st := status.Newf(codes.ResourceExhausted, format+"; retry in %s", append(args, retry)...)
	if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retry)}); err == nil {
		return d.Err()
	}
	return st.Err()
}

func callerOf(ctx context.Context) string {
	if id, ok := identity.FromContext(ctx); ok {
		return id.String()
	}
	return ""
}
