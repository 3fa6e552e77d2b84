package jobs

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/jobstore"
	"github.com/espprov/espprov/services/provisioning"
)

// Submit starts a job for req, or attaches to the job with the same
// request_id. A request naming a station profile is filled from it first:
// the job records the filled request (without secrets). ctx is the caller's: its metadata (per-call RainMaker
// credentials) and identity go with the job, its cancellation does not.
// The returned run is nil when attaching to a job not running here.
func (r *Runner) Submit(ctx context.Context, req *espprovv1.ProvisionRequest) (*espprovv1.Job, *run, error) {
	if pa, ok := r.cfg.Service.(ProfileApplier); ok {
		var err error
		if req, err = pa.ApplyProfile(req); err != nil {
			return nil, nil, err
		}
	}
	if err := checkTraceability(req); err != nil {
		return nil, nil, err
	}
	if c, ok := r.cfg.Service.(Checker); ok {
		if err := c.CheckProvision(req); err != nil {
			return nil, nil, err
		}
	}
	redacted := Redact(req)
	fp := Fingerprint(redacted)
	if id := req.GetRequestId(); id != "" {
		if j, err := r.byRequestID(ctx, id, fp); j != nil || err != nil {
			return j, r.running(j), err
		}
	}
	now := time.Now()
	d := req.GetDevice()
	key := r.cfg.DeviceKey(ctx, d)
	addr := d.GetAddress()
	if addr == "" {
		addr = d.GetSerialPort()
	}
	job := &espprovv1.Job{
		JobId: newJobID(now), State: espprovv1.JobState_JOB_STATE_QUEUED,
		RequestId: req.GetRequestId(), SerialNumber: req.GetSerialNumber(), WorkOrder: req.GetWorkOrder(), Station: req.GetStation(),
		Labels: req.GetLabels(), CreateTime: ts(now), UpdateTime: ts(now),
		Device: &espprovv1.JobDevice{Transport: d.GetTransport(), Name: d.GetName(), Address: addr, Adapter: d.GetAdapter(), DeviceKey: key},
		Caller: callerOf(ctx), Instance: r.cfg.Instance, Request: redacted,
	}
	rn, err := r.admit(job, key)
	if err != nil {
		return nil, nil, err
	}
	rec, err := r.store.Create(ctx, jobstore.Record{Job: job, Fingerprint: fp})
	if errors.Is(err, jobstore.ErrDuplicateRequest) {
		r.release(rn)
		if rec.Fingerprint != fp {
			return nil, nil, duplicate(req.GetRequestId(), rec.Job)
		}
		return rec.Job, r.running(rec.Job), nil
	}
	if err != nil {
		r.release(rn)
		return nil, nil, status.Errorf(codes.Unavailable, "recording the job: %v", err)
	}
	if key != "" {
		if err := r.store.LockDevice(ctx, key, job.GetJobId()); err != nil {
			r.release(rn)
			dctx, cancel := storeCtx()
			defer cancel()
			_ = r.store.Delete(dctx, job.GetJobId())
			var busy *jobstore.BusyError
			if errors.As(err, &busy) {
				return nil, nil, deviceBusy(key, busy.JobID)
			}
			return nil, nil, status.Errorf(codes.Unavailable, "locking the device: %v", err)
		}
	}
	r.start(ctx, rn, req)
	return job, rn, nil
}

func (r *Runner) byRequestID(ctx context.Context, id, fp string) (*espprovv1.Job, error) {
	js, err := r.store.List(ctx, jobstore.Filter{RequestID: id, Limit: 1})
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "reading the job store: %v", err)
	}
	if len(js) == 0 {
		return nil, nil
	}
	if Fingerprint(js[0].GetRequest()) != fp {
		return nil, duplicate(id, js[0])
	}
	return js[0], nil
}

func duplicate(id string, j *espprovv1.Job) error {
	return status.Errorf(codes.AlreadyExists, "request_id %q belongs to job %s, started with a different request: reuse a request_id only to retry the very same request (use a new request_id for a new attempt)", id, j.GetJobId())
}

func deviceBusy(key, jobID string) error {
	return status.Errorf(codes.Aborted, "device %s has job %s in progress (one job per device at a time): follow it with WatchJob, or retry when it has ended", key, jobID)
}

// running returns the local run of j, if any.
func (r *Runner) running(j *espprovv1.Job) *run {
	if j == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[j.GetJobId()]
}

// slotKey groups jobs that share a limited resource.
func slotKey(d *espprovv1.Device) string {
	switch d.GetTransport() {
	case espprovv1.Transport_TRANSPORT_BLE:
		return "ble/" + d.GetAdapter()
	default:
		return d.GetTransport().String()
	}
}

// admit reserves the device and a place in the transport's queue.
func (r *Runner) admit(job *espprovv1.Job, key string) (*run, error) {
	d := job.GetRequest().GetDevice()
	lim, ok := r.limits[d.GetTransport()]
	if !ok || lim.Concurrent <= 0 {
		lim = Limit{Concurrent: 16, Waiting: 64}
	}
	sk := slotKey(d)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, status.Error(codes.Unavailable, "the server is shutting down: retry on another instance or after the restart")
	}
	if key != "" {
		if other, busy := r.devices[key]; busy {
			return nil, deviceBusy(key, other)
		}
	}
	s := r.slots[sk]
	if s == nil {
		s = &slot{sem: make(chan struct{}, lim.Concurrent), name: provisioning.TransportName(d.GetTransport())}
		if d.GetTransport() == espprovv1.Transport_TRANSPORT_BLE {
			s.name += "/" + d.GetAdapter()
		}
		r.slots[sk] = s
	}
	if s.pending >= lim.Concurrent+lim.Waiting {
		return nil, exhausted(r.cfg.RetryAfter, "%d %s jobs are running or queued on this server (limit %d at once, %d waiting)",
			s.pending, provisioning.TransportName(d.GetTransport()), lim.Concurrent, lim.Waiting)
	}
	s.pending++
	if key != "" {
		r.devices[key] = job.GetJobId()
	}
	rn := &run{job: job, key: key, slot: s, cancelCh: make(chan struct{}), done: make(chan struct{})}
	r.runs[job.GetJobId()] = rn
	return rn, nil
}

// release undoes admit.
func (r *Runner) release(rn *run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rn.slot.pending--
	if rn.key != "" && r.devices[rn.key] == rn.job.GetJobId() {
		delete(r.devices, rn.key)
	}
	delete(r.runs, rn.job.GetJobId())
}

// previousMapping finds a succeeded job that mapped this device: the same
// serial number, or without one the same device key.
func (r *Runner) previousMapping(ctx context.Context, req *espprovv1.ProvisionRequest, key string) (*espprovv1.Job, error) {
	f := jobstore.Filter{States: []espprovv1.JobState{espprovv1.JobState_JOB_STATE_SUCCEEDED}, Limit: 50}
	switch {
	case req.GetSerialNumber() != "":
		f.SerialNumber = req.GetSerialNumber()
	case key != "":
		f.Device = key
	default:
		return nil, nil
	}
	js, err := r.store.List(ctx, f)
	if err != nil {
		return nil, err
	}
	for _, j := range js {
		if j.GetResult().GetMapped() && j.GetResult().GetNodeId() != "" {
			return j, nil
		}
	}
	return nil, nil
}

func cloneReq(req *espprovv1.ProvisionRequest) *espprovv1.ProvisionRequest {
	return proto.Clone(req).(*espprovv1.ProvisionRequest)
}
