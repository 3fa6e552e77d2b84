package poll

import (
	"context"
	"testing"
	"time"
)

func TestScheduleGaps(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name string
		s    Schedule
		// elapsed time at each call to Next
		at   []time.Duration
		want []time.Duration
	}{
		{"defaults dense then sparse", Schedule{},
			[]time.Duration{0, 10 * ms, 30 * ms, 70 * ms, 120 * ms, 4 * time.Second, 4100 * ms, 4300 * ms, 4700 * ms, 5500 * ms},
			[]time.Duration{10 * ms, 20 * ms, 40 * ms, 50 * ms, 50 * ms, 100 * ms, 200 * ms, 400 * ms, 500 * ms, 500 * ms}},
		{"max below dense max caps everything", Schedule{Max: 20 * ms},
			[]time.Duration{0, 0, 0, 5 * time.Second},
			[]time.Duration{10 * ms, 20 * ms, 20 * ms, 20 * ms}},
		{"first above max", Schedule{First: time.Second, Max: 30 * ms},
			[]time.Duration{0, 0},
			[]time.Duration{30 * ms, 30 * ms}},
		{"no dense phase", Schedule{Dense: -1, Max: time.Second},
			[]time.Duration{0, 0, 0, 0, 0, 0, 0, 0},
			[]time.Duration{10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, time.Second}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := time.Unix(1000, 0)
			now := base
			tk := c.s.startAt(func() time.Time { return now })
			for i, at := range c.at {
				now = base.Add(at)
				if got := tk.Next(); got != c.want[i] {
					t.Fatalf("gap %d at %v = %v, want %v", i, at, got, c.want[i])
				}
			}
		})
	}
}

func TestWaitHonoursDeadline(t *testing.T) {
	// A long gap is cut to fit one last poll before the deadline, then Wait
	// blocks until the context ends instead of spinning.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	tk := Schedule{First: time.Hour, DenseMax: time.Hour, Max: time.Hour}.Start()
	start := time.Now()
	if err := tk.Wait(ctx); err != nil {
		t.Fatalf("first wait: %v (want one last poll before the deadline)", err)
	}
	if el := time.Since(start); el > 190*time.Millisecond+5*time.Second || el < 150*time.Millisecond {
		t.Fatalf("first wait took %v, want about 180ms", el)
	}
	if err := tk.Wait(ctx); err != context.DeadlineExceeded {
		t.Fatalf("second wait = %v, want DeadlineExceeded", err)
	}
	if ctx.Err() == nil {
		t.Fatal("second wait returned before the deadline")
	}
}

func TestWaitCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (Schedule{}).Start().Wait(ctx); err != context.Canceled {
		t.Fatalf("Wait on a cancelled context = %v", err)
	}
}
