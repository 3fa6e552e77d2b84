package provisioning_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/rainmaker"
	"github.com/espprov/espprov/internal/server"
	simcloud "github.com/espprov/espprov/internal/sim/cloud"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
	"github.com/espprov/espprov/services/provisioning"
)

// capture is a TCP listener that records every connection and every byte
// sent to it, and answers nothing: a stand-in for an attacker's cloud URL.
type capture struct {
	l     net.Listener
	mu    sync.Mutex
	conns int
	data  strings.Builder
	seen  chan struct{} // closed at the first connection
	once  sync.Once
}

func startCapture(t *testing.T) *capture {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &capture{l: l, seen: make(chan struct{})}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.conns++
			c.mu.Unlock()
			c.once.Do(func() { close(c.seen) })
			go func() {
				defer conn.Close()
				_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
				buf := make([]byte, 4096)
				for {
					n, err := conn.Read(buf)
					c.mu.Lock()
					c.data.Write(buf[:n])
					c.mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return c
}

func (c *capture) stats() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conns, c.data.String()
}

// TestCloudURLAllowList: the server's RainMaker account goes only to the
// server's own cloud; an arbitrary cloud_url needs per-call credentials and
// https. No refused combination reaches the capturing listener.
func TestCloudURLAllowList(t *testing.T) {
	cloud := simcloud.New(simcloud.Options{})
	t.Cleanup(cloud.Close)
	cloud.AddUser(cloudUser, cloudPass)
	capt := startCapture(t)
	httpURL := "http://" + capt.l.Addr().String() + "/v1/"
	httpsURL := "https://" + capt.l.Addr().String() + "/"
	client := rainmaker.Config{MaxAttempts: 1, Backoff: time.Millisecond, MaxBackoff: time.Millisecond, SkipRegionCheck: true}
	serverAccount := rainmaker.ServerConfig{BaseURL: cloud.URL(), Credentials: rainmaker.Credentials{Username: cloudUser, Password: cloudPass}}
	cfg := func(cc provisioning.CloudConfig) provisioning.Config {
		cc.Client = client
		return provisioning.Config{Modules: provisioning.DefaultModules(), Cloud: cc}
	}
	withAccount := startServerWith(t, cfg(provisioning.CloudConfig{Server: serverAccount, Clouds: map[string]string{"lab": httpURL}}), server.Options{})
	noAccount := startServerWith(t, cfg(provisioning.CloudConfig{Server: rainmaker.ServerConfig{BaseURL: cloud.URL()}}), server.Options{})
	strict := startServerWith(t, cfg(provisioning.CloudConfig{Server: serverAccount, RefuseCustomURLs: true}), server.Options{})
	d := startDevice(t, device.Config{SecVer: 1, PoP: testPoP}, simhttpd.Options{})

	perCall := metadata.Pairs(rainmaker.MDUsername, "caller@example.com", rainmaker.MDPassword, "caller-Secret-9")
	refused := []struct {
		name    string
		h       *harness
		url     string
		md      metadata.MD
		code    codes.Code
		message string
	}{
		{"server account to an http URL", withAccount, httpURL, nil, codes.PermissionDenied, "x-rainmaker-*"},
		{"server account to an https URL", withAccount, httpsURL, nil, codes.PermissionDenied, "ESPPROV_RAINMAKER_URL"},
		{"server account to a URL spelled differently", withAccount, "HTTP://" + capt.l.Addr().String() + "/v1", nil, codes.PermissionDenied, "own cloud"},
		{"server account to a named cloud that is not its own", withAccount, "lab", nil, codes.PermissionDenied, `cloud "lab"`},
		{"server account to the china preset", withAccount, "china", nil, codes.PermissionDenied, `cloud "china"`},
		{"per-call account over plain http", withAccount, "http://" + capt.l.Addr().String() + "/other/", perCall, codes.InvalidArgument, "--cloud-allow-http"},
		{"per-call account with user info in the URL", withAccount, "https://u:p@" + capt.l.Addr().String() + "/", perCall, codes.InvalidArgument, "user information"},
		{"not a URL", withAccount, capt.l.Addr().String(), perCall, codes.InvalidArgument, "neither a configured cloud"},
		{"no account at all", noAccount, httpsURL, nil, codes.Unauthenticated, "needs an account"},
		{"server that refuses custom URLs", strict, httpsURL, perCall, codes.PermissionDenied, "--cloud NAME=URL"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.md != nil {
				ctx = metadata.NewOutgoingContext(ctx, tc.md)
			}
			req := provisionReq(d.addr, &espprovv1.Security{Pop: testPoP}, testSSID, testPass)
			req.Mapping = &espprovv1.Mapping{Enabled: true, CloudUrl: tc.url}
			_, err := collectCtx(ctx, t, tc.h.client, req)
			if status.Code(err) != tc.code || !strings.Contains(status.Convert(err).Message(), tc.message) {
				t.Fatalf("Provision: %v, want %v mentioning %q", err, tc.code, tc.message)
			}
			_, err = tc.h.client.MapNode(ctx, &espprovv1.MapNodeRequest{Device: req.Device, Security: req.Security,
				Timeouts: fastTimeouts(), Mapping: req.Mapping})
			if status.Code(err) != tc.code {
				t.Fatalf("MapNode: %v, want %v", err, tc.code)
			}
			for _, secret := range []string{cloudPass, "caller-Secret-9"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error shows a secret: %v", err)
				}
			}
		})
	}
	if n, data := capt.stats(); n != 0 {
		t.Fatalf("a refused call reached the capturing listener (%d connections): %q", n, data)
	}
	if st := d.dev.Stats(); len(st.Exchanges) != 0 || st.SessionsOpened != 0 {
		t.Fatalf("a refused call contacted the device")
	}

	// Controls: the same listener does capture what is allowed, so the
	// zero above means something. The server's own cloud still works.
	t.Run("allowed: per-call account to a named cloud", func(t *testing.T) {
		ctx := metadata.NewOutgoingContext(context.Background(), perCall)
		_, err := withAccount.client.MapNode(ctx, &espprovv1.MapNodeRequest{Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: d.addr},
			Security: &espprovv1.Security{Pop: testPoP}, Timeouts: fastTimeouts(), Mapping: &espprovv1.Mapping{CloudUrl: "lab"}})
		if err == nil {
			t.Fatal("MapNode against a silent listener succeeded")
		}
		select {
		case <-capt.seen:
		case <-time.After(20 * time.Second):
			t.Fatal("the allowed call never reached the named cloud")
		}
		if _, data := capt.stats(); strings.Contains(data, cloudPass) {
			t.Fatal("the server's password reached the named cloud")
		}
	})
	t.Run("allowed: server account to its own cloud", func(t *testing.T) {
		_, err := withAccount.client.MapNode(context.Background(), &espprovv1.MapNodeRequest{Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: d.addr},
			Security: &espprovv1.Security{Pop: testPoP}, Timeouts: fastTimeouts(), Mapping: &espprovv1.Mapping{CloudUrl: cloud.URL()}})
		// The plain device offers no challenge-response: the cloud login
		// succeeded and the refusal comes from the device.
		if code := status.Code(err); code == codes.PermissionDenied || code == codes.Unauthenticated || code == codes.InvalidArgument {
			t.Fatalf("MapNode to the server's own cloud: %v", err)
		}
	})
}
