package jobs

import (
	"context"
	"errors"
	"maps"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/jobstore"
	"github.com/espprov/espprov/internal/validate"
)

// UpdateJobLabels implements the RPC.
func (s *Server) UpdateJobLabels(ctx context.Context, req *espprovv1.UpdateJobLabelsRequest) (*espprovv1.Job, error) {
	if err := checkJobID(req.GetJobId()); err != nil {
		return nil, err
	}
	if len(req.GetLabels()) == 0 {
		return nil, invalid("labels: give at least one label to set (key: value) or remove (key: \"\")")
	}
	if err := checkLabels(req.GetLabels(), true); err != nil {
		return nil, err
	}
	if err := s.r.UpdateLabels(ctx, req.GetJobId(), req.GetLabels()); err != nil {
		return nil, err
	}
	return s.job(ctx, req.GetJobId())
}

// UpdateLabels merges changes into job id's labels (an empty value removes
// the key). A job running here is changed under its run's lock, so that its
// next event keeps the labels; a job still running on another instance is
// refused (that instance would overwrite them).
func (r *Runner) UpdateLabels(ctx context.Context, id string, changes map[string]string) error {
	r.mu.Lock()
	rn := r.runs[id]
	r.mu.Unlock()
	if rn != nil {
		rn.mu.Lock()
		defer rn.mu.Unlock()
	}
	var refused error
	j, err := r.store.UpdateJob(ctx, id, func(j *espprovv1.Job) error {
		if rn == nil && !jobstore.Finished(j.GetState()) {
			refused = status.Errorf(codes.FailedPrecondition, "job %s is running on instance %s: label it there, or once it has ended", id, j.GetInstance())
			return refused
		}
		merged := maps.Clone(j.GetLabels())
		if merged == nil {
			merged = map[string]string{}
		}
		for k, v := range changes {
			if v == "" {
				delete(merged, k)
			} else {
				merged[k] = v
			}
		}
		if len(merged) > validate.MaxLabels {
			refused = invalid("labels: a job has at most %d labels (this change would give it %d)", validate.MaxLabels, len(merged))
			return refused
		}
		j.Labels, j.UpdateTime = merged, ts(time.Now())
		return nil
	})
	switch {
	case refused != nil:
		return refused
	case errors.Is(err, jobstore.ErrNotFound):
		return status.Errorf(codes.NotFound, "no job %s (ListJobs shows the jobs this server knows)", id)
	case err != nil:
		return storeErr(ctx, err)
	}
	if rn != nil {
		rn.job.Labels, rn.job.UpdateTime = j.GetLabels(), j.GetUpdateTime()
	}
	return nil
}
