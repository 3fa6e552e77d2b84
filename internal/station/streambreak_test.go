package station_test

import (
	"fmt"
	"io"
	"net"
	"regexp"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// cutProxy forwards TCP connections to target; cut closes the open ones
// (new ones are accepted as before), as a network break does.
type cutProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			p.wg.Add(2)
			pipe := func(dst, src net.Conn) {
				defer p.wg.Done()
				io.Copy(dst, src)
				dst.Close()
				src.Close()
			}
			go pipe(up, c)
			go pipe(c, up)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

var rewatch = regexp.MustCompile(`:watch\?afterSequence=([1-9][0-9]*)$`)

// TestStreamBreak: the connection to espprovd breaks while a unit joins;
// the page follows the job again with WatchJob from the last event it saw
// and shows it green at the end.
func TestStreamBreak(t *testing.T) {
	sim := startSim(t, 1, "--connect-delay", "20s")
	u := sim.units[0]
	srv := startServer(t, sim, false)
	proxy := startCutProxy(t, srv.url[len("http://"):])
	via := &server{proc: srv.proc, url: "http://" + proxy.ln.Addr().String()}
	b := newBrowser(t, via.url)
	tb := b.newTab()
	tb.open(via)
	tb.scan(u.qr(sec2Pass))
	tb.waitJS(waitLong, "joining", fmt.Sprintf(`[...document.querySelectorAll('%s .steps li')].some(li => li.textContent === 'Applied')`, card(u.name, "running")))
	proxy.cut()
	tb.do(waitLong, "green after the break", chromedp.WaitVisible(chromedp.CSS(card(u.name, "succeeded"))))
	b.mu.Lock()
	var seen []string
	for _, s := range b.urls {
		if rewatch.MatchString(s) {
			seen = append(seen, s)
		}
	}
	b.mu.Unlock()
	if len(seen) == 0 {
		t.Errorf("no WatchJob from a later sequence after the break; requests: %v", b.urls)
	}
	b.check()
}
