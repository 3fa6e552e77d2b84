// Package netnstest runs a test inside a private Linux network namespace, so
// that tests can use real multicast DNS (and fixed ports such as 80) without a
// single packet leaving the machine's own network stack.
//
// The namespace is created by the test run itself (ip netns add, lo up, lo
// multicast on) and deleted in cleanup. Because a network namespace belongs
// to an OS thread and Go schedules goroutines on many threads, the test is
// not moved into the namespace in-process: the test binary is re-executed
// under `ip netns exec <ns>` for exactly the calling test, so every thread of
// the child (dnssd responders, browsers, HTTP servers) lives in the namespace.
//
// Usage:
//
//	func TestMDNS(t *testing.T) {
//		if !netnstest.Run(t) {
//			return // parent: the child ran the body and its result was reported
//		}
//		// body: runs inside the namespace
//	}
//
// Creating a namespace needs root and iproute2; without them the test fails
// (it is never skipped).
package netnstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	// envNS carries the namespace name to the child process.
	envNS = "ESPPROV_NETNSTEST_NS"
	// envParentNS carries the parent's network namespace identity so the
	// child can prove it is somewhere else.
	envParentNS = "ESPPROV_NETNSTEST_PARENT_NETNS"
	// childTimeout bounds the child test run when the parent has no deadline.
	childTimeout = 60 * time.Second
)

// Inside reports whether the current process is a netnstest child, i.e. runs
// inside a namespace created by Run.
func Inside() bool { return os.Getenv(envNS) != "" }

// Name returns the namespace name in a child, "" otherwise.
func Name() string { return os.Getenv(envNS) }

// Run returns true when the calling test runs inside its own network
// namespace and should execute its body. In the parent process it creates the
// namespace, runs the test binary again for t alone inside it, logs the
// child's output, fails t if the child failed, and returns false.
func Run(t *testing.T) bool {
	t.Helper()
	if ns := os.Getenv(envNS); ns != "" {
		checkChild(t, ns)
		return true
	}
	runParent(t)
	return false
}

func checkChild(t *testing.T, ns string) {
	t.Helper()
	self, err := netnsID()
	if err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	if parent := os.Getenv(envParentNS); parent == "" || parent == self {
		t.Fatalf("netnstest: child for namespace %q is not in a separate network namespace (%s)", ns, self)
	}
}

func runParent(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("netnstest: %s needs root to create a network namespace (ip netns add); run the tests as root (CI does)", t.Name())
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Fatalf("netnstest: %s needs the `ip` command from iproute2 (apt-get install iproute2): %v", t.Name(), err)
	}
	parentNS, err := netnsID()
	if err != nil {
		t.Fatalf("netnstest: %v", err)
	}

	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatalf("netnstest: random name: %v", err)
	}
	ns := "espprov-test-" + hex.EncodeToString(rnd[:])

	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	if dl, ok := t.Deadline(); ok {
		ctx, cancel = context.WithDeadline(context.Background(), dl.Add(-2*time.Second))
	}
	defer cancel()

	ipRun := func(args ...string) error {
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		out, err := exec.CommandContext(cctx, ip, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
	if err := ipRun("netns", "add", ns); err != nil {
		t.Fatalf("netnstest: create namespace: %v", err)
	}
	t.Cleanup(func() {
		if err := ipRun("netns", "del", ns); err != nil {
			t.Errorf("netnstest: delete namespace: %v", err)
		}
	})
	if err := ipRun("-n", ns, "link", "set", "lo", "up"); err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	if err := ipRun("-n", ns, "link", "set", "lo", "multicast", "on"); err != nil {
		t.Fatalf("netnstest: %v", err)
	}

	pattern := runPattern(t.Name())
	args := []string{"netns", "exec", ns, os.Args[0],
		"-test.run=" + pattern, "-test.v=true", "-test.count=1",
		"-test.timeout=" + time.Until(deadlineOf(ctx)).Truncate(time.Second).String()}
	cmd := exec.CommandContext(ctx, ip, args...)
	cmd.Env = append(os.Environ(), envNS+"="+ns, envParentNS+"="+parentNS)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		t.Log("netns| " + line)
	}
	if runErr != nil {
		t.Fatalf("netnstest: %s failed inside namespace %s: %v", t.Name(), ns, runErr)
	}
	if !strings.Contains(out.String(), "--- PASS: "+t.Name()+" ") {
		t.Fatalf("netnstest: child run did not report a pass for %s (pattern %s)", t.Name(), pattern)
	}
}

func deadlineOf(ctx context.Context) time.Time {
	dl, ok := ctx.Deadline()
	if !ok {
		return time.Now().Add(childTimeout)
	}
	return dl
}

// runPattern turns a test name such as "TestA/sub_1" into an exact -test.run
// pattern ("^TestA$/^sub_1$").
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// netnsID identifies the network namespace of the calling thread.
func netnsID() (string, error) {
	id, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		id, err = os.Readlink("/proc/self/ns/net")
	}
	if err != nil {
		return "", fmt.Errorf("read network namespace: %w", err)
	}
	return id, nil
}

// AddLink gives the test's namespace a second multicast interface, name
// (one end of a veth pair whose other end is up too), with the given
// addresses ("10.0.0.1/24", "fe80::1/64"; IPv6 ones without duplicate
// detection, so they are usable at once). Call it in a Run child.
func AddLink(t *testing.T, name string, addrs ...string) {
	t.Helper()
	if !Inside() {
		t.Fatal("netnstest: AddLink needs a namespace (call it after netnstest.Run returned true)")
	}
	cmds := [][]string{
		{"link", "add", name, "type", "veth", "peer", "name", name + "p"},
		{"link", "set", name + "p", "up"},
		{"link", "set", name, "multicast", "on", "up"},
	}
	for _, a := range addrs {
		c := []string{"addr", "add", a, "dev", name}
		if strings.Contains(a, ":") {
			c = append(c, "nodad")
		}
		cmds = append(cmds, c)
	}
	for _, c := range cmds {
		if out, err := exec.Command("ip", c...).CombinedOutput(); err != nil {
			t.Fatalf("netnstest: ip %s: %v: %s", strings.Join(c, " "), err, bytes.TrimSpace(out))
		}
	}
}
