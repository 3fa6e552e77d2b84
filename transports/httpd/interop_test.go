package httpd_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/protocomm"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
	"github.com/espprov/espprov/internal/wifiprov"
	"github.com/espprov/espprov/transports"
	"github.com/espprov/espprov/transports/httpd"
)

// A Security 1 session (one AES-CTR stream) survives the device closing the
// idle socket: the cookie continues it on a new connection. A client without
// the cookie starts a new session, after which the old one is gone.
func TestSecurity1SessionSurvivesReconnect(t *testing.T) {
	checkGoroutines(t)
	dev, err := device.New(device.Config{SecVer: 1, PoP: "abcd1234"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := simhttpd.Listen("127.0.0.1:0", dev, simhttpd.Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	establish := func() (*httpd.Transport, *protocomm.Session) {
		t.Helper()
		tr, err := httpd.Dial(ctx, srv.Addr().String(), httpd.Options{Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		v, err := protocomm.ReadVersion(ctx, tr)
		if err != nil {
			t.Fatal(err)
		}
		hs, err := protocomm.NewHandshaker(protocomm.Scheme(1), v, protocomm.Credentials{PoP: "abcd1234"})
		if err != nil {
			t.Fatal(err)
		}
		s, err := protocomm.Establish(ctx, tr, hs)
		if err != nil {
			t.Fatal(err)
		}
		return tr, s
	}
	tr, s := establish()
	defer tr.Close()
	for i := range 3 {
		if _, err := wifiprov.GetStatus(ctx, s); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		// Another client connects and sends nothing: the LRU purge closes
		// our idle socket.
		c, err := net.Dial("tcp", srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
		c.Close()
	}
	if _, err := wifiprov.GetStatus(ctx, s); err != nil {
		t.Fatalf("after reconnects: %v", err)
	}

	tr2, s2 := establish() // no cookie: new session
	defer tr2.Close()
	if _, err := wifiprov.GetStatus(ctx, s2); err != nil {
		t.Fatal(err)
	}
	// The first client's cookie is stale: the device starts yet another
	// session without keys and drops the encrypted request.
	if _, err := wifiprov.GetStatus(ctx, s); !errors.Is(err, transports.ErrClosed) {
		t.Fatalf("stale session: err = %v, want ErrClosed", err)
	}
}
