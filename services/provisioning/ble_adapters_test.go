package provisioning

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestNewBLEModuleValidation(t *testing.T) {
	for _, tc := range []struct {
		list []string
		ok   bool
	}{
		{nil, true},
		{[]string{"hci0", "hci1"}, true},
		{[]string{"hci0", "hci0"}, false},
		{[]string{"wlan0"}, false},
		{[]string{""}, false},
	} {
		_, err := NewBLEModule(tc.list)
		if (err == nil) != tc.ok {
			t.Errorf("NewBLEModule(%q): err %v, want ok=%v", tc.list, err, tc.ok)
		}
	}
}

func TestAdapterPool(t *testing.T) {
	m, err := NewBLEModule([]string{"hci0", "hci2"})
	if err != nil {
		t.Fatal(err)
	}
	p := m.pool
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	a, relA, err := p.acquire(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	b, relB, err := p.acquire(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("two sessions on %s at once", a)
	}
	// Both busy: a third waits until its deadline.
	short, scancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, _, err = p.acquire(short, "")
	scancel()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("acquire with every adapter busy: %v, want DeadlineExceeded", err)
	}
	// A waiter for a named adapter gets it as soon as it is released,
	// and not before.
	got := make(chan string, 1)
	go func() {
		n, rel, err := p.acquire(ctx, b)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		rel()
		got <- n
	}()
	relA() // not the one the waiter wants
	select {
	case n := <-got:
		t.Fatalf("waiter for %s got %q while it was busy", b, n)
	case <-time.After(100 * time.Millisecond):
	}
	relB()
	relB() // idempotent
	if n := <-got; n != b {
		t.Fatalf("waiter got %q, want %s", n, b)
	}
	if _, _, err := p.acquire(ctx, "hci5"); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("adapter outside the pool: %v, want InvalidArgument", err)
	}
}
