//go:build linux

package tcpopt

import (
	"io"
	"net"
	"sort"
	"testing"
	"time"
)

// replier answers every 4-byte request on one connection with a reply of
// replySize bytes: in one write, or like esp_http_server on lwIP (Nagle on,
// a head then the rest, ACKs delayed), where the rest leaves only once the
// head is acknowledged.
func replier(t *testing.T, split bool) (addr string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if split {
			_ = SetNoDelay(c, false)
			c = WithQuickAck(c, false)
		}
		reply := make([]byte, replySize)
		req := make([]byte, 4)
		for {
			if _, err := io.ReadFull(c, req); err != nil {
				return
			}
			parts := [][]byte{reply}
			if split {
				parts = [][]byte{reply[:40], reply[40:]}
			}
			for _, p := range parts {
				if _, err := c.Write(p); err != nil {
					return
				}
			}
		}
	}()
	return l.Addr().String()
}

const replySize = 200

// exchanges runs n request/reply exchanges and returns their durations,
// sorted, and the quick-ACK system calls they cost.
// quick false: the plain connection (the control).
func exchanges(t *testing.T, addr string, n int, quick bool) ([]time.Duration, int) {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	c, q := raw, (*QuickAckConn)(nil)
	if quick {
		var ok bool
		c = WithQuickAck(raw, true)
		if q, ok = c.(*QuickAckConn); !ok {
			t.Fatalf("WithQuickAck gave %T", c)
		}
	}
	arms := func() int {
		if q == nil {
			return 0
		}
		return q.Arms()
	}
	base := arms()
	var ds []time.Duration
	buf := make([]byte, replySize)
	for range n {
		start := time.Now()
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds, arms() - base
}

// A reply that arrives whole costs no quick-ACK system call.
func TestQuickAckWholeReplyNoSyscall(t *testing.T) {
	_, arms := exchanges(t, replier(t, false), 20, true)
	// A reply of one segment is read at once; under heavy load a read could
	// still wake between two segments of one write, rarely.
	if arms > 2 {
		t.Errorf("%d TCP_QUICKACK calls for 20 replies that each came in one write, want about 0", arms)
	}
}

// A reply held back behind a delayed ACK (Nagle device) is released by
// arming quick-ACK on the incomplete read: exchanges stay far below the
// 40 ms minimum of Linux's delayed ACK.
func TestQuickAckReleasesNagleReply(t *testing.T) {
	// The control: without quick-ACK the same device stalls each reply
	// behind the delayed ACK (once the kernel's first quick ACKs of a new
	// connection are spent).
	ds, _ := exchanges(t, replier(t, true), 12, false)
	if med := ds[len(ds)/2]; med < 30*time.Millisecond {
		t.Fatalf("control: median exchange %v without quick-ACK; the test device does not hold its replies (all: %v)", med, ds)
	}
	ds, arms := exchanges(t, replier(t, true), 20, true)
	// A new connection starts in quick-ACK mode: its first replies may
	// come whole.
	if arms < 15 {
		t.Errorf("%d TCP_QUICKACK calls for 20 split replies, want about one per reply", arms)
	}
	if med := ds[len(ds)/2]; med >= 30*time.Millisecond {
		t.Errorf("median exchange %v against a Nagle device: the delayed ACK held the reply (all: %v)", med, ds)
	}
}
