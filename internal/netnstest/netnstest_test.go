package netnstest

import (
	"net"
	"testing"
)

func TestRunPattern(t *testing.T) {
	cases := []struct{ in, want string }{
		{"TestA", "^TestA$"},
		{"TestA/sub_1", "^TestA$/^sub_1$"},
		{"TestA/x.y+z", `^TestA$/^x\.y\+z$`},
	}
	for _, c := range cases {
		if got := runPattern(c.in); got != c.want {
			t.Errorf("runPattern(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestNamespaceIsPrivate checks the child really is in a fresh namespace:
// only a multicast-enabled loopback exists.
func TestNamespaceIsPrivate(t *testing.T) {
	if !Run(t) {
		return
	}
	if !Inside() || Name() == "" {
		t.Fatal("Run returned true outside a netnstest child")
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(ifaces) != 1 || ifaces[0].Name != "lo" {
		t.Fatalf("interfaces = %v, want only lo", ifaces)
	}
	if ifaces[0].Flags&net.FlagUp == 0 || ifaces[0].Flags&net.FlagMulticast == 0 {
		t.Fatalf("lo flags = %v, want up|multicast", ifaces[0].Flags)
	}
	// Port 80 is free in a fresh namespace (we are root).
	l, err := net.Listen("tcp", "127.0.0.1:80")
	if err != nil {
		t.Fatalf("listen :80 inside namespace: %v", err)
	}
	l.Close()
}

// TestSubtestsRun checks that subtests are re-executed by exact name.
func TestSubtestsRun(t *testing.T) {
	for _, name := range []string{"one", "two words"} {
		t.Run(name, func(t *testing.T) {
			if !Run(t) {
				return
			}
			if !Inside() {
				t.Fatal("not inside")
			}
		})
	}
}
