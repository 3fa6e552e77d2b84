package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/jobstore"
	"github.com/espprov/espprov/services/provisioning"
)

// run is a job of this instance in progress.
type run struct {
	job  *espprovv1.Job // guarded by mu
	key  string
	slot *slot

	mu           sync.Mutex
	cancelled    bool // CancelJob arrived
	pastApply    bool // the device has applied the Wi-Fi config: no safe point left
	stopped      bool // the runner stopped the flow at a safe point
	sawResult    bool
	announced    bool // the running state was sent
	recordErr    error
	err          error // what Provision returned (the job's status)
	prevMapped   *espprovv1.Job
	cancelCh     chan struct{}
	cancelOnce   sync.Once
	done         chan struct{}
	cancelFlowFn context.CancelFunc
	holdsSlot    bool // a running slot of rn.slot is taken
	freeOnce     sync.Once
}

// errStopped is returned to the service at a safe point after CancelJob.
var errStopped = errors.New("jobs: cancelled at a safe point")

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// requestCancel asks the run to stop at its next safe point.
func (rn *run) requestCancel() {
	rn.mu.Lock()
	rn.cancelled = true
	rn.job.CancelRequested = true
	rn.mu.Unlock()
	rn.cancelOnce.Do(func() { close(rn.cancelCh) })
}

func (r *Runner) start(callerCtx context.Context, rn *run, req *espprovv1.ProvisionRequest) {
	// The job keeps the caller's metadata (per-call cloud credentials, in
	// memory only) and identity, not its cancellation.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(callerCtx), r.cfg.MaxDuration)
	if md, ok := metadata.FromIncomingContext(callerCtx); ok {
		ctx = metadata.NewIncomingContext(ctx, md.Copy())
	}
	rn.cancelFlowFn = cancel
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer cancel()
		r.execute(ctx, rn, req)
	}()
}

func (r *Runner) execute(ctx context.Context, rn *run, req *espprovv1.ProvisionRequest) {
	defer close(rn.done)
	defer r.finishRun(rn)
	acquired := false
	select {
	case rn.slot.sem <- struct{}{}:
		acquired = true
	default:
		r.queued(rn.slot, 1) // before the event: a caller that saw it sees the depth
		_ = r.record(rn, &espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_QUEUED, JobState: espprovv1.JobState_JOB_STATE_QUEUED,
			Message: fmt.Sprintf("Waiting for a free %s slot", provisioning.TransportName(req.GetDevice().GetTransport()))})
	}
	if !acquired {
		select {
		case rn.slot.sem <- struct{}{}:
			r.queued(rn.slot, -1)
		case <-rn.cancelCh:
			r.queued(rn.slot, -1)
			r.end(rn, espprovv1.JobState_JOB_STATE_CANCELLED, codes.Canceled, "cancelled by CancelJob while queued; the device was not contacted")
			return
		case <-ctx.Done():
			r.queued(rn.slot, -1)
			r.end(rn, espprovv1.JobState_JOB_STATE_FAILED, codes.DeadlineExceeded, fmt.Sprintf("no %s slot became free within the server's job deadline (%s)", provisioning.TransportName(req.GetDevice().GetTransport()), r.cfg.MaxDuration))
			return
		}
	}
	rn.holdsSlot = true
	rn.mu.Lock()
	rn.job.State, rn.job.StartTime = espprovv1.JobState_JOB_STATE_RUNNING, ts(time.Now())
	rn.mu.Unlock()
	if r.cfg.WantsMapping(req) && !req.GetMapping().GetRemap() {
		prev, err := r.previousMapping(ctx, req, rn.key)
		if err != nil {
			r.end(rn, espprovv1.JobState_JOB_STATE_FAILED, codes.Unavailable, "reading earlier jobs of this device: "+err.Error())
			return
		}
		if prev != nil {
			if r.skipMapping(rn, req, prev) {
				return
			}
			req = cloneReq(req)
			req.Mapping.Enabled = false
		}
	}
	err := r.cfg.Service.Provision(req, &jobStream{ctx: ctx, send: func(ev *espprovv1.ProvisionResponse) error { return r.record(rn, ev) }})
	rn.mu.Lock()
	stopped, sawResult, recErr, seq := rn.stopped, rn.sawResult, rn.recordErr, rn.job.GetLastSequence()
	rn.err = err
	rn.mu.Unlock()
	switch {
	case stopped:
		r.end(rn, espprovv1.JobState_JOB_STATE_CANCELLED, codes.Canceled, fmt.Sprintf("cancelled by CancelJob after %s; the device was left before its Wi-Fi configuration was applied, so a new job can provision it", rn.lastStep()))
	case recErr != nil:
		r.end(rn, espprovv1.JobState_JOB_STATE_FAILED, codes.Unavailable, "the job store failed, so the job was stopped: "+recErr.Error())
	case sawResult:
	case err != nil && seq == 0 && (status.Code(err) == codes.InvalidArgument || status.Code(err) == codes.Unimplemented):
		// Refused before anything was contacted: bad input changes nothing.
		dctx, cancel := storeCtx()
		defer cancel()
		_ = r.store.Delete(dctx, rn.job.GetJobId())
	case err != nil:
		st := status.Convert(err)
		r.end(rn, espprovv1.JobState_JOB_STATE_FAILED, st.Code(), st.Message())
	default:
		r.end(rn, espprovv1.JobState_JOB_STATE_FAILED, codes.Internal, "the provisioning ended without a result")
	}
}

// skipMapping handles a device an earlier job mapped: mapping-only jobs end
// at once; others provision Wi-Fi only. It reports whether the job ended.
func (r *Runner) skipMapping(rn *run, req *espprovv1.ProvisionRequest, prev *espprovv1.Job) bool {
	node := prev.GetResult().GetNodeId()
	msg := fmt.Sprintf("Node %s was mapped by job %s: not mapping it again (set mapping.remap to map anyway)", node, prev.GetJobId())
	rn.mu.Lock()
	rn.prevMapped = prev
	rn.mu.Unlock()
	ev := &espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_MAPPING, Message: msg,
		Mapping: &espprovv1.MappingEvent{NodeId: node, Mapped: true}}
	if !req.GetNoWifi() && req.GetDevice().GetTransport() != espprovv1.Transport_TRANSPORT_ON_NETWORK {
		_ = r.record(rn, ev)
		return false
	}
	_ = r.record(rn, ev)
	_ = r.record(rn, &espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_RESULT, Message: "Already mapped: nothing to do",
		Result: &espprovv1.Result{Success: true, NodeId: node, Mapped: true}})
	return true
}

func (rn *run) lastStep() string {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	return rn.job.GetLastConfirmedStep().String()
}

// record is the service's event sink: it stamps, stores and, at a safe
// point after CancelJob, stops the flow.
func (r *Runner) record(rn *run, ev *espprovv1.ProvisionResponse) error {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if rn.recordErr != nil {
		return rn.recordErr
	}
	j := rn.job
	now := time.Now()
	if ev.Time == nil {
		ev.Time = ts(now)
	}
	j.LastSequence++
	ev.JobId, ev.Sequence = j.GetJobId(), j.GetLastSequence()
	if ev.GetStep() != espprovv1.Step_STEP_QUEUED && !rn.announced {
		ev.JobState, rn.announced = espprovv1.JobState_JOB_STATE_RUNNING, true
	}
	j.UpdateTime = ts(now)
	if ev.GetStep() != espprovv1.Step_STEP_RESULT && ev.GetStep() != espprovv1.Step_STEP_QUEUED {
		j.LastConfirmedStep = ev.GetStep()
	}
	if info := ev.GetDeviceInfo(); info != nil {
		j.Device.DeviceInfo = info
	}
	if n := ev.GetMapping().GetNodeId(); n != "" {
		j.Device.NodeId = n
	}
	if ev.GetStep() == espprovv1.Step_STEP_CONFIG_APPLIED {
		rn.pastApply = true
	}
	if ev.GetStep() == espprovv1.Step_STEP_RESULT {
		res := ev.GetResult()
		if p := rn.prevMapped; p != nil && res != nil {
			res.NodeId, res.Mapped = p.GetResult().GetNodeId(), true
		}
		if res.GetNodeId() != "" {
			j.Device.NodeId = res.GetNodeId()
		}
		st := espprovv1.JobState_JOB_STATE_FAILED
		switch {
		case res.GetSuccess():
			st = espprovv1.JobState_JOB_STATE_SUCCEEDED
		case rn.cancelled && !rn.pastApply:
			st = espprovv1.JobState_JOB_STATE_CANCELLED
		case r.hardStop.Load():
			st = espprovv1.JobState_JOB_STATE_INTERRUPTED
		}
		j.LastSequence-- // finish numbers it
		finish(j, ev, st, now)
		rn.sawResult = true
		r.free(rn) // the device is free when its job's end is announced
	}
	ctx, cancel := storeCtx()
	defer cancel()
	cancelReq, err := r.store.Append(ctx, j, ev)
	if err != nil {
		rn.recordErr = fmt.Errorf("recording event %d of job %s: %w", ev.GetSequence(), j.GetJobId(), err)
		r.log.Error("job store write failed; stopping the job", "job", j.GetJobId(), "error", err)
		return rn.recordErr
	}
	if cancelReq && !rn.cancelled {
		rn.cancelled = true
		j.CancelRequested = true
	}
	if rn.cancelled && !rn.pastApply && !rn.sawResult {
		rn.stopped = true
		return errStopped
	}
	return nil
}

// end records the job's final event when the service did not.
func (r *Runner) end(rn *run, st espprovv1.JobState, code codes.Code, msg string) {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	j := rn.job
	res := j.GetResult()
	if res == nil {
		res = &espprovv1.Result{}
	}
	res.Success, res.ErrorCode, res.Error = false, code.String(), msg
	ev := &espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_RESULT, Message: msg, Result: res}
	finish(j, ev, st, time.Now())
	r.free(rn)
	ctx, cancel := storeCtx()
	defer cancel()
	if _, err := r.store.Append(ctx, j, ev); err != nil {
		r.log.Error("recording the end of a job failed", "job", j.GetJobId(), "state", st.String(), "error", err)
	}
}

// finishRun releases the job's device and slot if its end did not.
func (r *Runner) finishRun(rn *run) { r.free(rn) }

// free releases the job's device (here and in the store) and its slot, once.
func (r *Runner) free(rn *run) {
	rn.freeOnce.Do(func() {
		if rn.key != "" {
			ctx, cancel := storeCtx()
			if err := r.store.UnlockDevice(ctx, rn.key, rn.job.GetJobId()); err != nil {
				r.log.Warn("releasing a device lock", "device", rn.key, "error", err)
			}
			cancel()
		}
		if rn.holdsSlot {
			<-rn.slot.sem
		}
		r.release(rn)
	})
}

// Cancel asks job id to stop (CancelJob).
func (r *Runner) Cancel(ctx context.Context, id string) (*espprovv1.Job, error) {
	r.mu.Lock()
	rn := r.runs[id]
	r.mu.Unlock()
	if rn != nil {
		rn.requestCancel()
	}
	j, err := r.store.RequestCancel(ctx, id)
	switch {
	case errors.Is(err, jobstore.ErrNotFound):
		return nil, status.Errorf(codes.NotFound, "no job %s", id)
	case errors.Is(err, jobstore.ErrFinished):
		return j, nil
	case err != nil:
		return nil, status.Errorf(codes.Unavailable, "cancelling job %s: %v", id, err)
	}
	return j, nil
}

// Shutdown stops accepting jobs and waits for running ones until ctx ends;
// jobs still running then are stopped and, at the next start, recorded as
// interrupted.
func (r *Runner) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.stopRecover()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		r.hardStop.Store(true)
		r.mu.Lock()
		for _, rn := range r.runs {
			if rn.cancelFlowFn != nil {
				rn.cancelFlowFn()
			}
		}
		r.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// jobStream is the server stream the service sends a job's events to.
type jobStream struct {
	grpc.ServerStream
	ctx  context.Context
	send func(*espprovv1.ProvisionResponse) error
}

func (s *jobStream) Context() context.Context                   { return s.ctx }
func (s *jobStream) Send(ev *espprovv1.ProvisionResponse) error { return s.send(ev) }
func (s *jobStream) SetHeader(metadata.MD) error                { return nil }
func (s *jobStream) SendHeader(metadata.MD) error               { return nil }
func (s *jobStream) SetTrailer(metadata.MD)                     {}
func (s *jobStream) SendMsg(m any) error                        { return s.send(m.(*espprovv1.ProvisionResponse)) }
func (s *jobStream) RecvMsg(any) error                          { return errors.New("jobs: no client messages") }
