package simhttpd

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/fuzzkit"
	"github.com/espprov/espprov/internal/sim/device"
)

// FuzzRequests sends arbitrary bytes (request lines, headers, cookies,
// Content-Length, bodies, pipelined requests) to the simulated
// esp_http_server. It must never panic or hang: every connection ends.
func FuzzRequests(f *testing.F) {
	f.Add([]byte("POST /proto-ver HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n---"))
	f.Add([]byte("POST /prov-session HTTP/1.1\r\nCookie: session=123\r\nContent-Length: 2\r\n\r\n\x08\x01POST /proto-ver HTTP/1.1\r\nContent-Length: 1\r\n\r\nx"))
	f.Add([]byte("GET /proto-ver HTTP/1.1\r\n\r\n"))
	f.Add([]byte("POST /nope HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"))
	f.Add([]byte("POST /prov-config HTTP/1.1\r\nContent-Length: 99999\r\n\r\n"))
	f.Add([]byte("POST /proto-ver HTTP/1.1\r\nCookie: session=4294967295; other=1\r\nContent-Length: 1\r\n\r\n1"))
	d, err := device.New(device.Config{SecVer: 0, NoAutoStop: true})
	if err != nil {
		f.Fatal(err)
	}
	tcp, err := Listen("127.0.0.1:0", d, Options{RecvTimeout: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	defer tcp.Close()
	// Most inputs go over a Unix socket pair to the same server code (over
	// loopback TCP alone a run managed a few hundred executions/s on this
	// loaded machine); one in 16 over TCP.
	pairs := fuzzkit.NewPairListener()
	s := New(d, Options{RecvTimeout: time.Second})
	go s.Serve(pairs)
	defer s.Close()
	f.Fuzz(func(t *testing.T, raw []byte) {
		var c net.Conn
		var err error
		if len(raw)%16 == 0 {
			c, err = net.Dial("tcp", tcp.Addr().String())
		} else {
			c, err = pairs.Dial()
		}
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		tc := c.(interface {
			net.Conn
			CloseWrite() error
		})
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := tc.Write(raw); err != nil {
			return // the server may close early (e.g. a bad head)
		}
		_ = tc.CloseWrite()
		if _, err := io.Copy(io.Discard, tc); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server neither answered nor closed within 10 s")
			}
		}
	})
}
