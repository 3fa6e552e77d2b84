package provisioning

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestHandshakeLimiter(t *testing.T) {
	l := newHandshakeLimiter(2)
	ctx := context.Background()
	var releases []func()
	for i := range 2 {
		rel, waited, err := l.acquire(ctx)
		if err != nil || waited != 0 {
			t.Fatalf("acquire %d with a free slot: waited %v, err %v", i, waited, err)
		}
		releases = append(releases, rel)
	}

	// Both slots taken: the next two queue, and are admitted in arrival
	// order as slots come free, each reporting a wait.
	type admitted struct {
		i       int
		waited  time.Duration
		release func()
	}
	order := make(chan admitted, 2)
	for i := range 2 {
		go func() {
			rel, waited, err := l.acquire(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			order <- admitted{i, waited, rel}
		}()
		// The second waiter queues only after the first did.
		for !waiting(l, i+1) {
			time.Sleep(time.Millisecond)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := l.acquire(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire with a cancelled context and no free slot: %v", err)
	}
	for want := range 2 {
		releases[want]()
		a := <-order
		if a.i != want || a.waited <= 0 {
			t.Fatalf("admission %d: waiter %d with wait %v, want waiter %d and a positive wait", want, a.i, a.waited, want)
		}
		defer a.release()
	}
}

// waiting reports whether at least n goroutines are blocked in acquire's
// wait (the runtime does not expose a channel's queue: the goroutine dump
// shows them in a select inside handshakeLimiter.acquire).
func waiting(_ handshakeLimiter, n int) bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "[select") && strings.Contains(g, "handshakeLimiter.acquire") {
			count++
		}
	}
	return count >= n
}
