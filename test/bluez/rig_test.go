//go:build bluezvm

package bluez

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/espprov/espprov/internal/sim/device"
	"github.com/espprov/espprov/internal/sim/peripheral"
)

// Adapters of the rig.
const (
	central  = "hci0"
	device1  = "hci1"
	central2 = "hci2"
	device2  = "hci3"
	// readvertiseFor: both centrals, whose scans the emulated controllers
	// must see the devices' advertisements in (peripheral.Config), for a
	// device that either may connect to (TestTwoAdaptersAtOnce). A device
	// used by one pair re-advertises for its own central only (readvertise).
	readvertiseFor = central + "," + central2
)

// readvertise is the central a device on adapter re-advertises for: its
// pair's. Re-advertising switches advertising off for a moment, and btvirt
// refuses an LE Create Connection that arrives then (status 0x3e), after
// which the guest kernel keeps the attempt pending and the central connects
// to nothing more (traced: test/bluez/README.md). A device that toggled for
// the other pair's scanning central did so while its own central connected.
func readvertise(adapter string) string {
	switch adapter {
	case device1:
		return central
	case device2:
		return central2
	}
	return readvertiseFor
}

// Generous bounds: the guest runs under software emulation on a shared,
// loaded host.
const (
	startTimeout = 90 * time.Second
	opTimeout    = 90 * time.Second
	// exchangeTimeout bounds one request/response (default 10 s): at a
	// host load of 30–40 one emulated write + read took up to 1.6 s and a
	// single exchange overran 10 s (TestSecondProvision, TestProvisionCLI).
	exchangeTimeout = 30 * time.Second
	exchangeFlag    = "--exchange-timeout=30s"
)

// Test credentials and networks (the simulators' defaults).
const (
	ssid      = "HomeNet"
	pass      = "secret-pass"
	pop       = "abcd1234"
	srpUser   = "wifiprov"
	srpPass   = "abcd1234"
	apFlag    = ssid + ":" + pass
	scanAPs   = 10
	discoverS = "20" // espprov --discovery-timeout, seconds
)

var binDir string

func TestMain(m *testing.M) {
	binDir = os.Getenv("ESPPROV_RIG_BIN")
	if binDir == "" {
		fmt.Fprintln(os.Stderr, "the BLE suite runs inside the rig's VM: make test-ble (test/bluez/run.sh)")
		os.Exit(2)
	}
	n, _ := strconv.Atoi(os.Getenv("ESPPROV_RIG_CONTROLLERS"))
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	t0 := time.Now()
	err := waitAdapters(ctx, n)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "rig:", err)
		os.Exit(1)
	}
	fmt.Printf("rig: %d adapters powered after %v\n", n, time.Since(t0).Round(time.Millisecond))
	os.Exit(m.Run())
}

// pair is a central and the adapter its test devices advertise on.
type pair struct{ central, device string }

// pairs hands the rig's two central/device pairs to parallel tests.
var pairs = func() chan pair {
	c := make(chan pair, 2)
	c <- pair{central, device1}
	c <- pair{central2, device2}
	return c
}()

// usePair runs the test in parallel with others, on a pair of its own.
func usePair(t *testing.T) pair {
	t.Helper()
	t.Parallel()
	p := <-pairs
	t.Cleanup(func() { pairs <- p })
	return p
}

// waitAdapters waits until bluetoothd lists n powered adapters (guest.sh
// waited for them to exist). An adapter whose power-on failed is switched on
// again: on a loaded host the kernel's 2 s HCI command timeout can expire
// while btvirt (a guest process under software emulation) is answering.
func waitAdapters(ctx context.Context, n int) error {
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return fmt.Errorf("system bus: %w", err)
	}
	defer conn.Close()
	var last error
	retry := time.Now().Add(5 * time.Second)
	for {
		var objs map[dbus.ObjectPath]map[string]map[string]dbus.Variant
		err := conn.Object("org.bluez", "/").CallWithContext(ctx, "org.freedesktop.DBus.ObjectManager.GetManagedObjects", 0).Store(&objs)
		if err == nil {
			powered := 0
			var off []dbus.ObjectPath
			for path, ifaces := range objs {
				if a, ok := ifaces["org.bluez.Adapter1"]; ok {
					if on, _ := a["Powered"].Value().(bool); on {
						powered++
					} else {
						off = append(off, path)
					}
				}
			}
			if powered >= n {
				return nil
			}
			if time.Now().After(retry) {
				for _, path := range off {
					fmt.Printf("rig: switching %s on again\n", path)
					_ = conn.Object("org.bluez", path).CallWithContext(ctx, "org.freedesktop.DBus.Properties.Set", 0,
						"org.bluez.Adapter1", "Powered", dbus.MakeVariant(true)).Err
				}
				retry = time.Now().Add(5 * time.Second)
			}
			err = fmt.Errorf("%d of %d adapters powered", powered, n)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("bluetoothd not ready: %v", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var nameSeq atomic.Int32

// deviceName returns a fresh PROV_ name per test device, so that no test
// can pick up another test's device from bluetoothd's cache.
func deviceName() string {
	return fmt.Sprintf("PROV_%06x", 0xb1e000+int(nameSeq.Add(1)))
}

// lineBuffer collects a process's output and lets a test wait for a line.
type lineBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	added chan struct{}
}

func newLineBuffer() *lineBuffer { return &lineBuffer{added: make(chan struct{}, 1)} }

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf.Write(p)
	b.mu.Unlock()
	select {
	case b.added <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// wait returns the first match of re in the output, waiting for it.
func (b *lineBuffer) wait(ctx context.Context, re *regexp.Regexp) ([]string, error) {
	for {
		if m := re.FindStringSubmatch(b.String()); m != nil {
			return m, nil
		}
		select {
		case <-b.added:
		case <-ctx.Done():
			return nil, fmt.Errorf("no %q in output: %w\n%s", re, ctx.Err(), b.String())
		}
	}
}

// espsim starts the espsim command serving BLE devices; it returns when
// every device advertises. Cleanup stops it with SIGINT.
func espsim(t *testing.T, args ...string) *lineBuffer {
	t.Helper()
	again := readvertiseFor
	if i := slices.Index(args, "--ble-adapter"); i >= 0 && i+1 < len(args) {
		again = readvertise(args[i+1])
	}
	args = append([]string{"--http-listen", "127.0.0.1:0", "--connect-delay", "50ms", "--ble-readvertise-for", again}, args...)
	cmd := exec.Command(filepath.Join(binDir, "espsim"), args...)
	out := newLineBuffer()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("espsim did not stop on SIGINT:\n%s", out)
		}
	})
	t0 := time.Now()
	defer func() { t.Logf("espsim ready after %v", time.Since(t0).Round(time.Millisecond)) }()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	done := make(chan struct{})
	var werr error
	go func() {
		defer close(done)
		_, werr = out.wait(ctx, regexp.MustCompile(`(?m)advertising on hci`))
	}()
	select {
	case <-done:
	case <-exited:
		t.Fatalf("espsim exited: %v\n%s", waitErr, out)
	}
	if werr != nil {
		t.Fatal(werr)
	}
	return out
}

// result of a command run.
type result struct {
	code   int
	out    string
	took   time.Duration
	stderr string
}

// espprov runs the CLI (in-process engine, so the BLE transport runs in the
// CLI's process on the given adapter).
func espprov(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "espprov"), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Stdin = strings.NewReader("")
	t0 := time.Now()
	err := cmd.Run()
	r := result{out: stdout.String(), stderr: stderr.String(), took: time.Since(t0)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("espprov %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("espprov %v did not finish within %v:\n%s\n%s", args, opTimeout, r.out, r.stderr)
	}
	return r
}

// counting wraps a simulated device and counts requests per endpoint.
type counting struct {
	device.Protocomm
	mu     sync.Mutex
	counts map[string]int
	before func(endpoint string) // called before each request, when set
	after  func(endpoint string) // called after each request, when set
}

func (c *counting) Handle(session, endpoint string, req []byte) ([]byte, error) {
	c.mu.Lock()
	if c.counts == nil {
		c.counts = map[string]int{}
	}
	c.counts[endpoint]++
	before, after := c.before, c.after
	c.mu.Unlock()
	if before != nil {
		before(endpoint)
	}
	reply, err := c.Protocomm.Handle(session, endpoint, req)
	if after != nil {
		after(endpoint)
	}
	return reply, err
}

func (c *counting) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// simDevice is a simulated device served in this process by the peripheral
// package (for tests that count operations or inject faults).
type simDevice struct {
	dev  *device.Device
	pc   *counting
	p    *peripheral.Peripheral
	name string
}

func startDevice(t *testing.T, adapter string, cfg device.Config, pcfg peripheral.Config, setup ...func(*device.Device)) *simDevice {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = deviceName()
	}
	if cfg.APs == nil {
		cfg.APs = []device.AP{{SSID: ssid, Passphrase: pass, Channel: 6, RSSI: -50}}
	}
	if cfg.ConnectDelay == 0 {
		cfg.ConnectDelay = 50 * time.Millisecond
	}
	dev, err := device.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range setup {
		f(dev)
	}
	pc := &counting{Protocomm: dev}
	pcfg.Adapter, pcfg.Name, pcfg.Protocomm = adapter, cfg.Name, pc
	if pcfg.ReadvertiseFor == nil {
		pcfg.ReadvertiseFor = strings.Split(readvertise(adapter), ",")
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	p, err := peripheral.Start(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("peripheral close: %v", err)
		}
	})
	return &simDevice{dev: dev, pc: pc, p: p, name: cfg.Name}
}

// logf writes a line both to the test log and the run's metrics file.
func metric(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	f, err := os.OpenFile("/rig/out/metrics.txt", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		fmt.Fprintln(f, line)
		f.Close()
	}
}

var _ = io.Discard
var _ = bufio.NewReader
