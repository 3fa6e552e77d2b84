package provisioning

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestPollDeadlineDoesNotCutRead: the join deadline stops new reads but a read
// in flight when it passes finishes (bounded by ctx and the exchange timeout,
// not by the deadline). Each read here takes longer than the whole limit and
// honours its ctx, as a transport exchange does: were the deadline to cut it,
// the wait would end with a read error instead of its own verdict.
func TestPollDeadlineDoesNotCutRead(t *testing.T) {
	// limit leaves a loaded machine ample time to start the first read
	// (10 ms after the start) before the deadline.
	const limit = time.Second
	// slowRead returns reading once the deadline has certainly passed.
	slowRead := func(start time.Time, reading string) func(ctx context.Context) (string, error) {
		return func(ctx context.Context) (string, error) {
			select {
			case <-time.After(time.Until(start.Add(limit + 20*time.Millisecond))):
				return reading, nil
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
	}
	cases := []struct {
		name    string
		reading string
		code    codes.Code
		want    string
	}{
		{name: "still joining", reading: "connecting", code: codes.DeadlineExceeded, want: "the device did not connect within 1s"},
		{name: "joined during the last read", reading: "connected", code: codes.OK},
	}
	s := &Service{log: slog.New(slog.DiscardHandler)}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var reports []string
			st, err := pollStatus(t.Context(), s, statusPoll[string]{
				network: "Wi-Fi", join: "connect", limit: limit, interval: 10 * time.Millisecond,
				read:   slowRead(time.Now(), tc.reading),
				report: func(st string) error { reports = append(reports, st); return nil },
				final:  func(st string) (bool, error) { return st == "connected", nil },
			})
			if got := status.Code(err); got != tc.code {
				t.Fatalf("pollStatus: code %v (%v), want %v", got, err, tc.code)
			}
			if err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("pollStatus: %v, want %q", err, tc.want)
			}
			if len(reports) == 0 || reports[len(reports)-1] != tc.reading {
				t.Fatalf("reports %q: the read in flight at the deadline was not reported", reports)
			}
			if tc.code == codes.OK && st != "connected" {
				t.Fatalf("state %q, want connected", st)
			}
		})
	}
}

// TestPollReadErrorsAfterDeadline: a failing read after the deadline ends the
// wait with the deadline, and the caller's own cancellation still ends it with
// the read's error.
func TestPollReadErrorsAfterDeadline(t *testing.T) {
	s := &Service{log: slog.New(slog.DiscardHandler)}
	errLink := errors.New("link dropped")
	const limit = time.Second
	start := time.Now()
	_, err := pollStatus(t.Context(), s, statusPoll[string]{
		network: "Wi-Fi", join: "connect", limit: limit, interval: 10 * time.Millisecond,
		read: func(ctx context.Context) (string, error) {
			<-time.After(time.Until(start.Add(limit + 20*time.Millisecond)))
			return "", errLink
		},
		report: func(string) error { return nil },
		final:  func(string) (bool, error) { return false, nil },
	})
	if status.Code(err) != codes.DeadlineExceeded || strings.Contains(err.Error(), "reading") {
		t.Fatalf("failing read after the deadline: %v, want DeadlineExceeded", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	_, err = pollStatus(ctx, s, statusPoll[string]{
		network: "Wi-Fi", join: "connect", limit: time.Minute, interval: 10 * time.Millisecond,
		read: func(ctx context.Context) (string, error) {
			cancel()
			<-ctx.Done()
			return "", ctx.Err()
		},
		report: func(string) error { return nil },
		final:  func(string) (bool, error) { return false, nil },
	})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "reading Wi-Fi status") {
		t.Fatalf("cancelled by the caller: %v, want the read's context.Canceled", err)
	}
}
