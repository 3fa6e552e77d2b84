// Package poll schedules status polls of a device: fast at first, backing off
// to a longest interval, never past the caller's deadline.
//
// Devices give no signal when they finish joining a network: a client learns
// it only by asking. The reference tools ask every 5 s, which costs up to 5 s
// per device; asking every few milliseconds forever loads the device and the
// link for nothing on long joins. The schedule here asks 10 ms after the start
// (an instant join is seen at once), doubles the gap up to DenseMax while the
// join is likely to finish (the first Dense after the start: firmware waits
// 1 s before it connects and most joins finish within a few seconds), then
// doubles up to Max.
//
// It is transport- and message-neutral: Wi-Fi (wifi_provisioning) and Thread
// (network_provisioning) status waits use the same schedule.
package poll

import (
	"context"
	"time"
)

// Defaults of a zero Schedule field.
const (
	DefaultFirst    = 10 * time.Millisecond
	DefaultDenseMax = 50 * time.Millisecond
	DefaultDense    = 4 * time.Second
	DefaultMax      = 500 * time.Millisecond
)

// Schedule describes the gaps between polls. The zero value uses the defaults.
type Schedule struct {
	// First is the gap before the first poll.
	First time.Duration
	// DenseMax caps the gap while less than Dense has passed since Start.
	DenseMax time.Duration
	// Dense is how long the gap stays at most DenseMax.
	Dense time.Duration
	// Max caps the gap afterwards. A Max below DenseMax also caps the dense
	// phase (a caller asking for a short interval gets it throughout).
	Max time.Duration
}

func (s Schedule) withDefaults() Schedule {
	if s.First <= 0 {
		s.First = DefaultFirst
	}
	if s.DenseMax <= 0 {
		s.DenseMax = DefaultDenseMax
	}
	if s.Dense < 0 {
		s.Dense = 0
	} else if s.Dense == 0 {
		s.Dense = DefaultDense
	}
	if s.Max <= 0 {
		s.Max = DefaultMax
	}
	if s.DenseMax > s.Max {
		s.DenseMax = s.Max
	}
	if s.First > s.DenseMax {
		s.First = s.DenseMax
	}
	return s
}

// Ticker yields the gaps of one wait. It is not safe for concurrent use.
type Ticker struct {
	s     Schedule
	start time.Time
	gap   time.Duration
	now   func() time.Time
}

// Start begins a wait now.
func (s Schedule) Start() *Ticker { return s.startAt(time.Now) }

func (s Schedule) startAt(now func() time.Time) *Ticker {
	return &Ticker{s: s.withDefaults(), start: now(), now: now}
}

// Next returns the gap before the next poll.
func (t *Ticker) Next() time.Duration {
	limit := t.s.Max
	if t.now().Sub(t.start) < t.s.Dense {
		limit = t.s.DenseMax
	}
	switch {
	case t.gap == 0:
		t.gap = t.s.First
	default:
		t.gap *= 2
	}
	t.gap = min(t.gap, limit)
	return t.gap
}

// Wait sleeps for the next gap. A gap reaching into the last moments before
// ctx's deadline is shortened so that one last poll still fits before it (a
// device that joined just before the deadline is still seen); after that
// poll, Wait blocks until ctx ends. It returns ctx.Err() when ctx ends.
func (t *Ticker) Wait(ctx context.Context) error {
	gap := t.Next()
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl) - lastPollReserve
		if left <= 0 {
			<-ctx.Done()
			return ctx.Err()
		}
		gap = min(gap, left)
	}
	timer := time.NewTimer(gap)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// lastPollReserve is kept before a deadline for the final poll's round trip.
const lastPollReserve = 20 * time.Millisecond
