package provisioning

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/espprov/espprov/internal/poll"
)

// statusPoll describes how to follow a device's network state (Wi-Fi
// station, Thread attach) after the credentials were applied. The one poll
// loop below serves every network type, so the polling policy lives in one
// place.
type statusPoll[S any] struct {
	// network names the network in messages ("Wi-Fi", "Thread"); join is
	// what the device failed to do in time ("connect to Wi-Fi").
	network, join string
	// limit bounds the whole wait; interval is the longest gap between
	// reads (poll.Schedule: the first read comes 10 ms after the apply).
	limit, interval time.Duration
	// fixed: interval was asked for; it caps every gap (no dense phase of
	// at most 50 ms during the first seconds).
	fixed bool
	// read reads one status.
	read func(ctx context.Context) (S, error)
	// report is called with every reading; it emits a change of state.
	report func(S) error
	// final reports whether the reading ends the wait, and with what error.
	final func(S) (bool, error)
}

// pollStatus reads the status on poll.Schedule (fast start, then backing
// off to at most interval) until final says so, tolerating pollErrorBudget
// failed reads in a row (esp_prov tolerates 3).
//
// limit is a deadline for the device to join, not for the exchanges: it
// decides when no further read is started, but never cuts a read in flight
// (each read is bounded by the exchange timeout of the connection and by
// ctx). A read begun before the deadline thus reports what the device says:
// a join just before the deadline is seen, and a device still joining ends
// the wait with "did not join within limit" rather than with a read that the
// deadline interrupted (and left the session half-way through an exchange).
func pollStatus[S any](ctx context.Context, s *Service, p statusPoll[S]) (S, error) {
	var zero S
	deadline := time.Now().Add(p.limit)
	waitCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	late := func() error {
		return status.Errorf(codes.DeadlineExceeded, "the device did not %s within %s", p.join, p.limit)
	}
	errorsInRow := 0
	sched := poll.Schedule{Max: p.interval}
	if p.fixed {
		sched.Dense = -1
	}
	tick := sched.Start()
	for {
		if err := tick.Wait(waitCtx); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return zero, late()
			}
			return zero, err
		}
		st, err := p.read(ctx)
		if err != nil {
			errorsInRow++
			if errorsInRow >= pollErrorBudget || ctx.Err() != nil {
				return zero, fmt.Errorf("reading %s status: %w", p.network, err)
			}
			if !time.Now().Before(deadline) {
				return zero, late()
			}
			s.log.WarnContext(ctx, "status read failed; retrying", "network", p.network, "error", err)
			continue
		}
		errorsInRow = 0
		if err := p.report(st); err != nil {
			return st, err
		}
		if done, err := p.final(st); done {
			return st, err
		}
	}
}
