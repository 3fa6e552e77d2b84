package jobs

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/jobstore"
)

// Server is the ProvisioningService with jobs: Provision runs as a job, the
// job RPCs read and write jobs; every other RPC goes to the wrapped service.
type Server struct {
	espprovv1.ProvisioningServiceServer
	r *Runner
	// Poll is how often a follower re-reads the store when no notification
	// came (a safety net; notifications are the normal path). Default 2 s.
	Poll time.Duration
}

// NewServer wraps svc.
func NewServer(svc espprovv1.ProvisioningServiceServer, r *Runner) *Server {
	return &Server{ProvisioningServiceServer: svc, r: r, Poll: 2 * time.Second}
}

// Provision implements the RPC: start (or attach to) the job and follow it.
// The job goes on if the caller leaves.
func (s *Server) Provision(req *espprovv1.ProvisionRequest, stream grpc.ServerStreamingServer[espprovv1.ProvisionResponse]) error {
	job, rn, err := s.r.Submit(stream.Context(), req)
	if err != nil {
		return err
	}
	final, err := s.follow(stream.Context(), job.GetJobId(), 0, stream.Send)
	if errors.Is(err, jobstore.ErrNotFound) && rn != nil {
		<-rn.done // refused before it started; the record was removed
		if rn.err != nil {
			return rn.err
		}
	}
	if err != nil {
		return err
	}
	return finalStatus(final)
}

// finalStatus is what Provision returns after a job's last event: OK on
// success, the job's error otherwise.
func finalStatus(ev *espprovv1.ProvisionResponse) error {
	switch ev.GetJobState() {
	case espprovv1.JobState_JOB_STATE_SUCCEEDED:
		return nil
	case espprovv1.JobState_JOB_STATE_CANCELLED:
		return status.Error(codes.Canceled, ev.GetResult().GetError())
	case espprovv1.JobState_JOB_STATE_INTERRUPTED:
		return status.Error(codes.Aborted, ev.GetResult().GetError())
	}
	return status.Error(codeNamed(ev.GetResult().GetErrorCode()), ev.GetResult().GetError())
}

func codeNamed(name string) codes.Code {
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if c.String() == name {
			if c == codes.OK {
				return codes.Unknown
			}
			return c
		}
	}
	return codes.Unknown
}

// follow sends the job's events after the cursor, then live ones, until
// the event that ends the job (returned).
func (s *Server) follow(ctx context.Context, id string, after uint64, send func(*espprovv1.ProvisionResponse) error) (*espprovv1.ProvisionResponse, error) {
	changed, unsubscribe := s.r.store.Subscribe(id)
	defer unsubscribe()
	poll := s.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	t := time.NewTimer(poll)
	defer t.Stop()
	for {
		evs, err := s.r.store.Events(ctx, id, after, 500)
		if err != nil {
			return nil, storeErr(ctx, err)
		}
		for _, ev := range evs {
			if err := send(ev); err != nil {
				return nil, err
			}
			after = ev.GetSequence()
			if jobstore.Finished(ev.GetJobState()) {
				return ev, nil
			}
		}
		if len(evs) > 0 {
			continue
		}
		if after == 0 {
			// A job with no events yet: make sure it exists (and was not
			// refused and removed).
			j, err := s.r.store.Get(ctx, id)
			if err != nil {
				return nil, err
			}
			if jobstore.Finished(j.GetState()) && j.GetLastSequence() == 0 {
				return nil, status.Errorf(codes.Internal, "job %s ended without events", id)
			}
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(poll)
		select {
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-changed:
		case <-t.C:
		}
	}
}

func storeErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	return status.Errorf(codes.Unavailable, "reading the job store: %v", err)
}

func checkJobID(id string) error {
	if id == "" {
		return invalid("job_id is required")
	}
	if len(id) > 128 {
		return invalid("job_id is at most 128 characters")
	}
	return nil
}

// GetJob implements the RPC.
func (s *Server) GetJob(ctx context.Context, req *espprovv1.GetJobRequest) (*espprovv1.Job, error) {
	if err := checkJobID(req.GetJobId()); err != nil {
		return nil, err
	}
	return s.job(ctx, req.GetJobId())
}

func (s *Server) job(ctx context.Context, id string) (*espprovv1.Job, error) {
	j, err := s.r.store.Get(ctx, id)
	if errors.Is(err, jobstore.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "no job %s (ListJobs shows the jobs this server knows)", id)
	}
	if err != nil {
		return nil, storeErr(ctx, err)
	}
	var evs []*espprovv1.ProvisionResponse
	for after := uint64(0); ; {
		page, err := s.r.store.Events(ctx, id, after, 1000)
		if err != nil {
			return nil, storeErr(ctx, err)
		}
		evs = append(evs, page...)
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].GetSequence()
	}
	j.Steps = Steps(evs, j.GetState())
	return j, nil
}

// Steps turns a job's events into steps: each lasts until the next event;
// the last one is running while the job is, and the result step is ok or
// failed.
func Steps(evs []*espprovv1.ProvisionResponse, state espprovv1.JobState) []*espprovv1.JobStep {
	out := make([]*espprovv1.JobStep, 0, len(evs))
	for i, ev := range evs {
		st := &espprovv1.JobStep{Step: ev.GetStep(), StartTime: ev.GetTime(), Message: ev.GetMessage(), Sequence: ev.GetSequence(), Outcome: "ok"}
		switch {
		case ev.GetStep() == espprovv1.Step_STEP_RESULT:
			st.EndTime = ev.GetTime()
			if !ev.GetResult().GetSuccess() {
				st.Outcome = "failed"
			}
		case i+1 < len(evs):
			st.EndTime = evs[i+1].GetTime()
		case !jobstore.Finished(state):
			st.Outcome = "running"
		}
		out = append(out, st)
	}
	return out
}

// WatchJob implements the RPC.
func (s *Server) WatchJob(req *espprovv1.WatchJobRequest, stream grpc.ServerStreamingServer[espprovv1.ProvisionResponse]) error {
	if err := checkJobID(req.GetJobId()); err != nil {
		return err
	}
	if _, err := s.r.store.Get(stream.Context(), req.GetJobId()); errors.Is(err, jobstore.ErrNotFound) {
		return status.Errorf(codes.NotFound, "no job %s", req.GetJobId())
	} else if err != nil {
		return storeErr(stream.Context(), err)
	}
	_, err := s.follow(stream.Context(), req.GetJobId(), req.GetAfterSequence(), stream.Send)
	if errors.Is(err, jobstore.ErrNotFound) {
		return status.Errorf(codes.NotFound, "job %s was refused before it started and is not recorded", req.GetJobId())
	}
	return err
}

// CancelJob implements the RPC.
func (s *Server) CancelJob(ctx context.Context, req *espprovv1.CancelJobRequest) (*espprovv1.Job, error) {
	if err := checkJobID(req.GetJobId()); err != nil {
		return nil, err
	}
	if _, err := s.r.Cancel(ctx, req.GetJobId()); err != nil {
		return nil, err
	}
	return s.job(ctx, req.GetJobId())
}

func toFilter(states []espprovv1.JobState, device, node, serial, wo, station, reqID string, after, before interface {
	AsTime() time.Time
	IsValid() bool
}) (jobstore.Filter, error) {
	f := jobstore.Filter{States: states, Device: device, NodeID: node, SerialNumber: serial, WorkOrder: wo, Station: station, RequestID: reqID}
	for _, st := range states {
		if _, ok := espprovv1.JobState_name[int32(st)]; !ok || st == espprovv1.JobState_JOB_STATE_UNSPECIFIED {
			return f, invalid("states: %d is not a job state (JOB_STATE_QUEUED, _RUNNING, _SUCCEEDED, _FAILED, _CANCELLED, _INTERRUPTED)", st)
		}
	}
	if after.IsValid() {
		f.CreatedAfter = after.AsTime()
	}
	if before.IsValid() {
		f.CreatedBefore = before.AsTime()
	}
	return f, nil
}

func listFilter(r *espprovv1.ListJobsRequest) (jobstore.Filter, error) {
	return toFilter(r.GetStates(), r.GetDevice(), r.GetNodeId(), r.GetSerialNumber(), r.GetWorkOrder(), r.GetStation(), r.GetRequestId(), r.GetCreatedAfter(), r.GetCreatedBefore())
}

func exportFilter(r *espprovv1.ExportJobsRequest) (jobstore.Filter, error) {
	return toFilter(r.GetStates(), r.GetDevice(), r.GetNodeId(), r.GetSerialNumber(), r.GetWorkOrder(), r.GetStation(), r.GetRequestId(), r.GetCreatedAfter(), r.GetCreatedBefore())
}

// ListJobs implements the RPC.
func (s *Server) ListJobs(ctx context.Context, req *espprovv1.ListJobsRequest) (*espprovv1.ListJobsResponse, error) {
	f, err := listFilter(req)
	if err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0 || size > 1000:
		return nil, invalid("page_size must be between 1 and 1000 (got %d)", size)
	case size == 0:
		size = 50
	}
	if req.GetPageToken() != "" {
		if f.After, err = decodeToken(req.GetPageToken()); err != nil {
			return nil, err
		}
	}
	f.Limit = size + 1
	js, err := s.r.store.List(ctx, f)
	if err != nil {
		return nil, storeErr(ctx, err)
	}
	resp := &espprovv1.ListJobsResponse{}
	if len(js) > size {
		js = js[:size]
		last := js[size-1]
		resp.NextPageToken = encodeToken(jobstore.Cursor{CreateTime: last.GetCreateTime().AsTime(), ID: last.GetJobId()})
	}
	resp.Jobs = js
	return resp, nil
}

func encodeToken(c jobstore.Cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreateTime.UnixNano(), 10) + "/" + c.ID))
}

func decodeToken(tok string) (*jobstore.Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	bad := invalid("page_token is not one this server issued: pass next_page_token of the previous page unchanged")
	if err != nil {
		return nil, bad
	}
	n, id, ok := strings.Cut(string(b), "/")
	if !ok || id == "" {
		return nil, bad
	}
	v, err := strconv.ParseInt(n, 10, 64)
	if err != nil {
		return nil, bad
	}
	return &jobstore.Cursor{CreateTime: time.Unix(0, v), ID: id}, nil
}
