package httpd

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/fuzzkit"
	"github.com/espprov/espprov/transports"
)

// scriptedDevice answers each connection's first request with the next
// scripted bytes, then closes the connection.
type scriptedDevice struct {
	l       net.Listener
	mu      sync.Mutex
	replies [][]byte
	cookies []string // Cookie headers received
	wg      sync.WaitGroup
}

func newScriptedDevice(tb testing.TB) *scriptedDevice {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	d := &scriptedDevice{l: l}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				d.serve(c)
			}()
		}
	}()
	tb.Cleanup(func() { l.Close(); d.wg.Wait() })
	return d
}

func (d *scriptedDevice) script(rs ...[]byte) {
	d.mu.Lock()
	d.replies, d.cookies = rs, nil
	d.mu.Unlock()
}

// serve answers one request on c, half-closes, and waits for the client to
// hang up.
func (d *scriptedDevice) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil {
		return
	}
	d.mu.Lock()
	d.cookies = append(d.cookies, req.Header.Values("Cookie")...)
	var r []byte
	if len(d.replies) > 0 {
		r, d.replies = d.replies[0], d.replies[1:]
	}
	d.mu.Unlock()
	_, _ = c.Write(r)
	_ = c.(interface{ CloseWrite() error }).CloseWrite()
	var buf [512]byte
	for {
		if _, err := c.Read(buf[:]); err != nil {
			return
		}
	}
}

// dialSocketpair is a DialContext that connects the transport to the device
// over a Unix socket pair: a real socket (the liveness probe between
// exchanges peeks it as it does TCP), without a listener, a TCP handshake
// and an accept per exchange.
func (d *scriptedDevice) dialSocketpair(context.Context, string, string) (net.Conn, error) {
	c, s, err := fuzzkit.SocketPair()
	if err != nil {
		return nil, err
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.serve(s)
	}()
	return c, nil
}

// FuzzResponses feeds arbitrary bytes as the device's HTTP replies (status
// line, headers, Set-Cookie, Content-Length or chunked framing, body) to two
// exchanges. Every failure must be classified, and a cookie taken from a
// reply must go back as one header line. One input in 16 goes over loopback
// TCP, the rest over a Unix socket pair: over TCP alone a run managed ~400
// executions/s here.
func FuzzResponses(f *testing.F) {
	ok := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: session=12345\r\nContent-Length: 5\r\n\r\nhello"
	f.Add([]byte(ok), []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"))
	f.Add([]byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"), []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nSet-Cookie: a\r\nSet-Cookie: session=1; Path=/\r\n\r\nbody-until-close"), []byte("garbage"))
	f.Add([]byte("HTTP/1.0 500 Internal Server Error\r\n\r\n"), []byte("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"))
	f.Add([]byte{}, []byte("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"))
	d := newScriptedDevice(f)
	f.Fuzz(func(t *testing.T, r1, r2 []byte) {
		d.script(r1, r2)
		ctx := context.Background()
		opts := Options{ExchangeTimeout: 5 * time.Second, DialContext: d.dialSocketpair}
		if (len(r1)+len(r2))%16 == 0 {
			opts.DialContext = nil
		}
		tr, err := Dial(ctx, d.l.Addr().String(), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		for _, ep := range []string{"proto-ver", "prov-session"} {
			body, err := tr.Exchange(ctx, ep, []byte("req"))
			if err != nil {
				if body != nil {
					t.Fatalf("error with a body: %v", err)
				}
				if !errors.Is(err, transports.ErrProtocol) && !errors.Is(err, transports.ErrClosed) &&
					!errors.Is(err, transports.ErrNoEndpoint) && !errors.Is(err, transports.ErrUnreachable) {
					t.Fatalf("unclassified error: %v", err)
				}
				continue
			}
			if len(body) > maxResponse {
				t.Fatalf("body of %d bytes", len(body))
			}
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, c := range d.cookies {
			if strings.ContainsAny(c, "\r\n") {
				t.Fatalf("cookie header %q spans lines", c)
			}
		}
	})
}
