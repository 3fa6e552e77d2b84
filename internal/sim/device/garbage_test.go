package device

import "testing"

// A garbage reply never has the real reply's length: a same-length one
// would leave a Security 1 keystream in step (TestFaultMatrix flake).
func TestGarbageNeverHasTheReplyLength(t *testing.T) {
	for _, n := range []int{1, 2, 15, 16, 17, 40, 300} {
		for range 2000 {
			if g := garbage(n); len(g) == n || len(g) == 0 {
				t.Fatalf("garbage(%d) has %d bytes", n, len(g))
			}
		}
	}
}
