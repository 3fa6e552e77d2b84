package station_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium finds Debian's Chromium. Missing, the tests skip on a
// developer's machine and fail under CI (where .ci/run installs it).
func chromium(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found: the station page tests need Debian's chromium package (apt-get install chromium; .ci/run installs it)")
	}
	t.Skip("chromium not found (apt-get install chromium): station page browser tests skipped")
	return ""
}

// browser is headless Chromium with a fresh profile. Every uncaught
// exception, console error, CSP violation and request URL of its tabs is
// recorded.
type browser struct {
	t      *testing.T
	alloc  context.Context
	origin string
	mu     sync.Mutex
	issues []string
	urls   []string
	status map[string]int64
}

func newBrowser(t *testing.T, origin string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	return &browser{t: t, alloc: alloc, origin: origin, status: map[string]int64{}}
}

// tab is one browser tab (its own session storage, like a second browser
// for the page).
type tab struct {
	b   *browser
	t   *testing.T
	ctx context.Context
}

// with is the tab for a subtest (failures end the subtest).
func (tb *tab) with(t *testing.T) *tab {
	return &tab{b: tb.b, t: t, ctx: tb.ctx}
}

// newTab opens the browser's tab (once per browser: a second browser is
// another newBrowser, with its own profile).
func (b *browser) newTab() *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.alloc)
	b.t.Cleanup(cancel)
	if err := chromedp.Listen(ctx, b.record); err != nil {
		b.t.Fatalf("start chromium: %v", err)
	}
	// The station's touch panel: 1280×800.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		b.t.Fatalf("viewport: %v", err)
	}
	return &tab{b: b, t: b.t, ctx: ctx}
}

func (b *browser) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + d.Exception.Description
		}
		b.issues = append(b.issues, "exception: "+msg)
	case *runtime.EventConsoleAPICalled:
		if ev.Type == "error" {
			b.issues = append(b.issues, "console.error")
		}
	case *log.EventEntryAdded:
		// Network entries are the HTTP errors the page handles (401 of a
		// wrong token); everything else (CSP violations, script errors) is
		// a defect.
		if ev.Entry.Level == log.EntryLevelError && ev.Entry.Source != log.EntrySourceNetwork {
			b.issues = append(b.issues, fmt.Sprintf("%s: %s", ev.Entry.Source, ev.Entry.Text))
		}
	case *network.EventRequestWillBeSent:
		b.urls = append(b.urls, ev.Request.URL)
	case *network.EventResponseReceived:
		b.status[ev.Response.URL] = ev.Response.Status
	}
}

// check fails the test on recorded page problems and on any request that
// leaves the server's origin.
func (b *browser) check() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, is := range b.issues {
		b.t.Errorf("page problem: %s", is)
	}
	for _, u := range b.urls {
		if !strings.HasPrefix(u, b.origin+"/") && !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "blob:"+b.origin) {
			b.t.Errorf("the page made a request outside its server: %s", u)
		}
	}
}

// responded reports the HTTP status of the last response for a URL with
// this path prefix (0: none).
func (b *browser) responded(pathPrefix string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	for u, st := range b.status {
		if pu, err := url.Parse(u); err == nil && strings.HasPrefix(pu.Path, pathPrefix) {
			return st
		}
	}
	return 0
}

// do runs actions within timeout; on failure it shows what the page showed.
func (tb *tab) do(timeout time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v\npage:\n%s", what, err, tb.text())
	}
}

// text is the page's visible text (for failure messages).
func (tb *tab) text() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// eval evaluates a JS expression.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// evalAwait evaluates a JS expression that gives a promise.
func evalAwait[T any](tb *tab, expr string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS waits until a JS expression is truthy (polled in the page).
func (tb *tab) waitJS(timeout time.Duration, what, expr string) {
	tb.t.Helper()
	poll := chromedp.Poll[any](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(0))
	tb.do(timeout, what, func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := poll(ctx, t)
		return chromedp.Void{}, err
	})
}

// click waits until an element exists (polled in the page: cards redraw
// their contents on every event, so a node found once may be replaced)
// and clicks it.
func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.waitJS(waitShort, "element "+sel, fmt.Sprintf(`!!document.querySelector(%q)`, sel))
	tb.do(waitShort, "click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// card is the CSS selector of a unit's card in a state.
func card(unit, state string) string {
	return fmt.Sprintf(`article.card[data-unit=%q][data-state=%q]`, unit, state)
}

// scan types a label as a keyboard-wedge scanner does: keys into whatever
// has the focus (the page keeps it on the scan field), then Enter.
func (tb *tab) scan(payload string) {
	tb.t.Helper()
	tb.waitJS(waitShort, "focus back on the scan field", `document.activeElement && document.activeElement.id === 'scan'`)
	tb.do(waitShort, "scan", chromedp.KeyEvent(payload+"\r"))
}

// open loads the page and waits until it is signed in and ready.
func (tb *tab) open(srv *server) {
	tb.t.Helper()
	tb.do(waitShort, "open the page", chromedp.Navigate(srv.url+"/ui/"))
	if srv.token != "" {
		tb.do(waitShort, "sign-in form", chromedp.WaitVisible(chromedp.ID("token")))
		tb.do(waitShort, "type the token", chromedp.SendKeys(chromedp.ID("token"), srv.token+"\r"))
	}
	tb.do(waitShort, "board ready", chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"] #scan`)))
}

// artifact writes a test artifact to $ESPPROV_ARTIFACTS (default
// testdata/artifacts, ignored by git).
func artifact(t *testing.T, name string, data []byte) {
	t.Helper()
	dir := os.Getenv("ESPPROV_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("artifact: %s", p)
}

// screenshot captures the tab's viewport as PNG.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, waitShort)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Fatalf("screenshot: %v", err)
	}
	artifact(tb.b.t, name, png)
}
