package provisioning

import (
	"context"
	"fmt"
	"runtime"
	"time"
)

// handshakeLimiter bounds the handshakes running at once (Security 1 and 2
// are CPU work: X25519, SRP-6a 3072). Without a bound, N handshakes share
// the cores and each takes N times as long; with it, the ones beyond the
// bound wait in arrival order (a channel's waiting senders are served
// first come, first served) and each runs at full speed. A waiting call
// holds no exchange timer: only its overall deadline runs.
type handshakeLimiter chan struct{}

func newHandshakeLimiter(n int) handshakeLimiter {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return make(handshakeLimiter, n)
}

// acquire waits for a slot; release it with the returned func. waited is
// how long the call queued: 0 when a slot was free at once (the clock is
// read only when it must wait).
func (l handshakeLimiter) acquire(ctx context.Context) (release func(), waited time.Duration, err error) {
	select {
	case l <- struct{}{}:
		return func() { <-l }, 0, nil
	default:
	}
	start := time.Now()
	select {
	case l <- struct{}{}:
		return func() { <-l }, max(time.Since(start), time.Nanosecond), nil
	case <-ctx.Done():
		return nil, time.Since(start), fmt.Errorf("waiting for a handshake slot (%d run at once): %w", cap(l), ctx.Err())
	}
}
