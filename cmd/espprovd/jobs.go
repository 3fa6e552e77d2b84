package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"time"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/jobstore/open"
	"github.com/espprov/espprov/services/jobs"
	"github.com/espprov/espprov/services/provisioning"
)

type jobFlags struct {
	store       *string
	instance    *string
	maxDuration *time.Duration
	recover     *time.Duration
	// limits overrides the runner's per-transport limits (ble.go sets the
	// BLE one from --ble-adapters).
	limits map[espprovv1.Transport]jobs.Limit
}

func addJobFlags(fs *flag.FlagSet) *jobFlags {
	return &jobFlags{
		store: fs.String("store", "", "job record: `PATH` or sqlite:PATH (SQLite, one espprovd per file; default $XDG_STATE_HOME/espprov/jobs.db), "+
			"or postgres://USER@HOST/DB[?search_path=SCHEMA] (PostgreSQL, shared by several instances)"),
		instance:    fs.String("instance", "", "name of this instance in job records (default: random per start)"),
		maxDuration: fs.Duration("job-deadline", 15*time.Minute, "longest a job may run, however its request's timeouts are set"),
		recover:     fs.Duration("job-recover-interval", 10*time.Second, "how often jobs of instances that stopped are marked interrupted (shared stores)"),
	}
}

// startJobs opens the store and the runner; the returned server is the
// API with jobs, close stops the runner (waiting for jobs until ctx ends)
// and closes the store.
func startJobs(ctx context.Context, f *jobFlags, svc *provisioning.Service, log *slog.Logger, queue jobs.QueueObserver) (*jobs.Server, func(context.Context), error) {
	instance := *f.instance
	if instance == "" {
		instance = jobs.NewInstanceID()
	}
	st, err := open.Store(ctx, *f.store, instance)
	if err != nil {
		return nil, nil, fmt.Errorf("--store %s: %w", open.Describe(*f.store), err)
	}
	r, err := jobs.New(ctx, jobs.Config{Store: st, Service: svc, Instance: instance, Logger: log,
		MaxDuration: *f.maxDuration, RecoverEvery: *f.recover, Limits: f.limits,
		DeviceKey: svc.DeviceKey, WantsMapping: provisioning.WantsMapping, Queue: queue})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	log.Info("job store open", "store", open.Describe(*f.store), "instance", instance)
	return jobs.NewServer(svc, r), func(ctx context.Context) {
		if err := r.Shutdown(ctx); err != nil {
			log.Warn("jobs still running at shutdown will show as interrupted", "error", err)
		}
		_ = st.Close()
	}, nil
}
