package netnstest

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// CheckGoroutines fails t if goroutines started by espprov code during the
// test are still running shortly after it ends (a grace period lets
// asynchronous shutdowns finish).
//
// Only goroutines created by espprov functions count: brutella/dnssd leaves
// socket readers blocked on an unbuffered channel and vishvananda/netlink
// leaves a receiver in recvfrom after their owners stopped, which no caller
// can prevent.
func CheckGoroutines(t *testing.T) {
	t.Helper()
	before := ours()
	t.Cleanup(func() {
		var leaked []string
		deadline := time.Now().Add(3 * time.Second)
		for {
			leaked = leaked[:0]
			for id, stack := range ours() {
				if _, ok := before[id]; !ok {
					leaked = append(leaked, stack)
				}
			}
			if len(leaked) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(leaked) > 0 {
			t.Errorf("%d goroutine(s) leaked:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
	})
}

// ours returns the goroutines created by espprov code, by goroutine header.
func ours() map[string]string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		header, _, _ := strings.Cut(g, "\n")
		i := strings.LastIndex(g, "\ncreated by ")
		if i < 0 {
			continue
		}
		creator, _, _ := strings.Cut(g[i+len("\ncreated by "):], "\n")
		if !strings.HasPrefix(creator, "github.com/espprov/espprov/") {
			continue
		}
		// "goroutine 12 [chan receive]:" -> "goroutine 12"
		id := header
		if j := strings.Index(header, " ["); j >= 0 {
			id = header[:j]
		}
		out[id] = g
	}
	return out
}
