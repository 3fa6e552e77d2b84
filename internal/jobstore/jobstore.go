// Package jobstore is the durable record of provisioning jobs: one small
// interface, Store, with two backends (sqlite, the embedded default, and
// postgres, for several espprovd instances sharing one record).
//
// A store keeps each job as its espprovv1.Job message (without secrets: the
// runner redacts the request before it gets here) plus indexed columns for
// the filters, and the job's events (espprovv1.ProvisionResponse) in order
// of their sequence number. Writes are transactions: a job's events and its
// record change together or not at all.
package jobstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
)

// Store records jobs and their events.
type Store interface {
	// Create records a new job (its state, instance and create time set).
	// When the job's request_id is already taken it records nothing and
	// returns the existing job with ErrDuplicateRequest.
	Create(ctx context.Context, rec Record) (Record, error)
	// Append records events (sequence numbers continuing the job's) and the
	// job as it is after them, atomically; with no events it only rewrites
	// the job. It reports whether CancelJob was requested for the job (by any
	// instance). ErrConflict: another writer recorded one of these sequence
	// numbers first (e.g. two instances interrupting the same orphan).
	Append(ctx context.Context, job *espprovv1.Job, events ...*espprovv1.ProvisionResponse) (cancelRequested bool, err error)
	// Delete removes a job that was refused before it started (bad input).
	Delete(ctx context.Context, id string) error
	// Get returns a job without its steps; ErrNotFound when unknown.
	Get(ctx context.Context, id string) (*espprovv1.Job, error)
	// Events returns up to limit events with a sequence above after, in order.
	Events(ctx context.Context, id string, after uint64, limit int) ([]*espprovv1.ProvisionResponse, error)
	// List returns jobs matching f, newest first.
	List(ctx context.Context, f Filter) ([]*espprovv1.Job, error)
	// UpdateJob changes a job's record in one transaction: update gets the
	// stored job and changes it (an error aborts with that error); the job
	// as stored is returned. ErrNotFound when unknown. The runner of an
	// unfinished job rewrites the whole record with its next event, so
	// callers change a running job through its runner.
	UpdateJob(ctx context.Context, id string, update func(*espprovv1.Job) error) (*espprovv1.Job, error)
	// RequestCancel marks an unfinished job for cancellation and returns it.
	RequestCancel(ctx context.Context, id string) (*espprovv1.Job, error)
	// Subscribe returns a channel that receives a value (coalesced) whenever
	// the job changes, on this instance or another one sharing the store.
	Subscribe(id string) (<-chan struct{}, func())
	// LockDevice makes jobID the one job for deviceKey across every
	// instance sharing the store; *BusyError names the holder otherwise. A
	// lock held by an instance that died is taken over.
	LockDevice(ctx context.Context, deviceKey, jobID string) error
	// UnlockDevice releases the lock if jobID holds it.
	UnlockDevice(ctx context.Context, deviceKey, jobID string) error
	// Orphans returns unfinished jobs of instances that are gone (crashed
	// or killed) and drops their device locks; the caller records them as
	// interrupted.
	Orphans(ctx context.Context) ([]*espprovv1.Job, error)
	Close() error
}

// Record is a job plus the fingerprint of its request (a hash of the
// request without secrets) for the idempotency check.
type Record struct {
	Job         *espprovv1.Job
	Fingerprint string
}

// Filter selects jobs. Zero fields match everything.
type Filter struct {
	States []espprovv1.JobState
	// Device matches the device key, address or name.
	Device, NodeID, SerialNumber, WorkOrder, Station, RequestID string
	CreatedAfter, CreatedBefore                                 time.Time
	// Limit is the most jobs returned (0: no limit).
	Limit int
	// After continues a listing after this job (exclusive).
	After *Cursor
}

// Cursor is a position in the newest-first order.
type Cursor struct {
	CreateTime time.Time
	ID         string
}

// Errors.
var (
	ErrNotFound         = errors.New("jobstore: no such job")
	ErrDuplicateRequest = errors.New("jobstore: a job with this request_id exists")
	ErrConflict         = errors.New("jobstore: the job was changed by another writer")
	ErrFinished         = errors.New("jobstore: the job has already ended")
	ErrInUse            = errors.New("jobstore: the store is in use by another process")
)

// BusyError says which job holds a device.
type BusyError struct {
	DeviceKey, JobID, Instance string
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("jobstore: device %s is in use by job %s (instance %s)", e.DeviceKey, e.JobID, e.Instance)
}

// Finished reports whether a job state is final.
func Finished(s espprovv1.JobState) bool {
	switch s {
	case espprovv1.JobState_JOB_STATE_SUCCEEDED, espprovv1.JobState_JOB_STATE_FAILED,
		espprovv1.JobState_JOB_STATE_CANCELLED, espprovv1.JobState_JOB_STATE_INTERRUPTED:
		return true
	}
	return false
}
