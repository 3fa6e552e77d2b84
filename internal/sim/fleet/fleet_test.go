package fleet

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/sim/device"
	"github.com/espprov/espprov/security"
	"github.com/espprov/espprov/security/sec1"
)

// client is a minimal protocomm-over-HTTP client that keeps the session
// cookie, like esp_prov.
type client struct {
	hc     *http.Client
	addr   string
	cookie string
}

func newClient(addr string) *client {
	return &client{hc: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}, addr: addr}
}

func (c *client) close() { c.hc.CloseIdleConnections() }

func (c *client) post(ep string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+c.addr+"/"+ep, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.cookie != "" {
		req.Header.Set("Cookie", c.cookie)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if sc := resp.Header.Get("Set-Cookie"); sc != "" {
		c.cookie = sc
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}

func (c *client) handshake(h security.Handshaker) error {
	var in []byte
	for range 5 {
		out, done, err := h.Step(in)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if in, err = c.post("prov-session", out); err != nil {
			return err
		}
	}
	return errors.New("handshake did not finish")
}

func (c *client) call(ci security.Cipher, ep string, req []byte) ([]byte, error) {
	ct, err := ci.Encrypt(req)
	if err != nil {
		return nil, err
	}
	out, err := c.post(ep, ct)
	if err != nil {
		return nil, err
	}
	return ci.Decrypt(out)
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkGoroutines fails if goroutines started during the test outlive it.
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Fatalf("goroutine leak: %d > %d\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func start(t *testing.T, o Options) *Fleet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f, err := Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	})
	return f
}

func TestFleetIdentitiesAndProtoVer(t *testing.T) {
	checkGoroutines(t)
	f := start(t, Options{N: 5, FirstMAC: [6]byte{0x24, 0x0a, 0xc4, 0x1a, 0x2b, 0xfe},
		Template: device.Config{SecVer: 1, PoP: "abcd1234"}})
	ms := f.Devices()
	if len(ms) != 5 {
		t.Fatalf("%d devices", len(ms))
	}
	wantNames := []string{"PROV_1A2BFE", "PROV_1A2BFF", "PROV_1A2C00", "PROV_1A2C01", "PROV_1A2C02"}
	seen := map[string]bool{}
	for i, m := range ms {
		if m.Index != i || m.Config.Name != wantNames[i] || m.Device.Name() != wantNames[i] {
			t.Fatalf("device %d: %v", i, m)
		}
		if m.Config.NodeID != fmt.Sprintf("240AC4%s", wantNames[i][5:]) {
			t.Fatalf("node id %q", m.Config.NodeID)
		}
		for _, k := range []string{m.Addr, m.Config.StationIP, m.Config.NodeID} {
			if seen[k] {
				t.Fatalf("duplicate %q", k)
			}
			seen[k] = true
		}
		if strings.Contains(m.String(), "abcd1234") {
			t.Fatalf("secret in %q", m)
		}
		c := newClient(m.Addr)
		out, err := c.post("proto-ver", []byte("none"))
		c.close()
		if err != nil || !bytes.Contains(out, []byte("\"sec_ver\":\t1")) {
			t.Fatalf("proto-ver on %s: %q %v", m.Addr, out, err)
		}
	}
}

func TestFleetProvisionOverHTTP(t *testing.T) {
	checkGoroutines(t)
	ap := device.AP{SSID: "myssid", Passphrase: "mypassword", BSSID: [6]byte{0x24, 0x0a, 0xc4, 0x11, 0x22, 0x33}, Channel: 6, RSSI: -45, Auth: 3}
	f := start(t, Options{N: 2, Template: device.Config{SecVer: 1, PoP: "pop", APs: []device.AP{ap},
		ConnectDelay: time.Millisecond, CleanupDelay: 50 * time.Millisecond},
		Configure: func(i int, c *device.Config) {
			if i == 1 {
				c.StationIP = "192.168.1.23"
			}
		}})
	m := f.Devices()[1]
	c := newClient(m.Addr)
	defer c.close()
	h := sec1.NewClient([]byte("pop"))
	if err := c.handshake(h); err != nil {
		t.Fatal(err)
	}
	steps := []struct{ ep, req, want string }{
		{"prov-scan", "52 06 08 01 18 05 20 78", "08 01 5a 00"},
		{"prov-scan", "08 02", "08 03 6a 04 08 01 10 01"},
		{"prov-config", "08 02 62 14 0a 06 6d7973736964 12 0a 6d7970617373776f7264", "08 03 6a 00"},
		{"prov-config", "08 04", "08 05 7a 00"},
	}
	for _, s := range steps {
		got, err := c.call(h.Cipher(), s.ep, unhex(t, s.req))
		if err != nil || !bytes.Equal(got, unhex(t, s.want)) {
			t.Fatalf("%s %s: %x %v", s.ep, s.req, got, err)
		}
	}
	want := unhex(t, "08 01 5a 24 5a 22 0a 0c 3139322e3136382e312e3233 10 03 1a 06 6d7973736964 22 06 240ac4112233 28 06")
	deadline := time.Now().Add(3 * time.Second)
	for {
		got, err := c.call(h.Cipher(), "prov-config", unhex(t, "52 00"))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not connected: %x", got)
		}
		time.Sleep(2 * time.Millisecond)
	}
	// Auto-stop: after the cleanup delay the exchange is dropped.
	time.Sleep(60 * time.Millisecond)
	if _, err := c.call(h.Cipher(), "prov-config", unhex(t, "52 00")); err == nil {
		t.Fatal("exchange after auto-stop succeeded")
	}
	if w := m.Device.Wifi(); !w.Stopped || w.State != device.WifiConnected {
		t.Fatalf("wifi %v", w)
	}
	if w := f.Devices()[0].Device.Wifi(); w.State != device.WifiIdle {
		t.Fatalf("other device touched: %v", w)
	}
}

func TestFleetLayouts(t *testing.T) {
	t.Run("loopback hosts", func(t *testing.T) {
		checkGoroutines(t)
		f := start(t, Options{N: 3, Layout: LayoutLoopbackHosts, FirstHost: 20})
		for i, m := range f.Devices() {
			host, _, err := net.SplitHostPort(m.Addr)
			if err != nil || host != fmt.Sprintf("127.0.0.%d", 20+i) {
				t.Fatalf("device %d on %s", i, m.Addr)
			}
			c := newClient(m.Addr)
			_, err = c.post("proto-ver", []byte("x"))
			c.close()
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("consecutive ports", func(t *testing.T) {
		checkGoroutines(t)
		var f *Fleet
		var err error
		for range 10 { // a free range may be taken between probe and listen
			l, lerr := net.Listen("tcp", "127.0.0.1:0")
			if lerr != nil {
				t.Fatal(lerr)
			}
			base := l.Addr().(*net.TCPAddr).Port
			l.Close()
			if base+2 > 65535 {
				continue
			}
			f, err = Start(context.Background(), Options{N: 3, Port: base})
			if err == nil {
				defer f.Close()
				for i, m := range f.Devices() {
					if m.Addr != fmt.Sprintf("127.0.0.1:%d", base+i) {
						t.Fatalf("device %d on %s", i, m.Addr)
					}
				}
				return
			}
		}
		t.Fatalf("no free consecutive ports: %v", err)
	})
	t.Run("errors", func(t *testing.T) {
		checkGoroutines(t)
		for _, o := range []Options{
			{N: 0},
			{N: 2, Port: 65535},
			{N: 300, Layout: LayoutLoopbackHosts},
			{N: 1, Layout: 9},
			{N: 2, Template: device.Config{SecVer: 7}},
			{N: 2, Setup: func(i int, d *device.Device) error {
				if i == 1 {
					return errors.New("setup failed")
				}
				return nil
			}},
		} {
			if f, err := Start(context.Background(), o); err == nil {
				f.Close()
				t.Fatalf("options %+v accepted", o)
			}
		}
		// A port in use fails and leaves nothing running.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if f, err := Start(context.Background(), Options{N: 1, Port: l.Addr().(*net.TCPAddr).Port}); err == nil {
			f.Close()
			t.Fatal("port in use accepted")
		}
	})
}

func TestFleetSetup(t *testing.T) {
	checkGoroutines(t)
	f := start(t, Options{N: 2, Setup: func(i int, d *device.Device) error {
		d.SetAppInfo("rmaker_extra", "1.0", "ch_resp")
		return d.RegisterEndpoint("custom-data", func([]byte) ([]byte, error) { return []byte(fmt.Sprint("dev", i)), nil })
	}})
	for i, m := range f.Devices() {
		c := newClient(m.Addr)
		out, err := c.post("custom-data", []byte("hi"))
		if err != nil || string(out) != fmt.Sprint("dev", i) {
			t.Fatalf("custom-data: %q %v", out, err)
		}
		out, err = c.post("proto-ver", []byte("hi"))
		if err != nil || !bytes.HasPrefix(out, []byte("{\n\t\"rmaker_extra\":\t{")) {
			t.Fatalf("proto-ver: %q %v", out, err)
		}
		c.close()
	}
}

func BenchmarkFleetProtoVer(b *testing.B) {
	f, err := Start(context.Background(), Options{N: 4})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	ms := f.Devices()
	clients := make([]*client, len(ms))
	for i, m := range ms {
		clients[i] = newClient(m.Addr)
		defer clients[i].close()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := clients[i%len(clients)].post("proto-ver", []byte("none")); err != nil {
			b.Fatal(err)
		}
	}
}
