package rainmaker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/rainmaker"
	simcloud "github.com/espprov/espprov/internal/sim/cloud"
)

// fast retry settings so that tests finish in milliseconds.
func fastConfig(base string) rainmaker.Config {
	return rainmaker.Config{
		BaseURL:        base,
		RequestTimeout: 2 * time.Second,
		MaxAttempts:    3,
		Backoff:        5 * time.Millisecond,
		MaxBackoff:     20 * time.Millisecond,
	}
}

func newCloud(t *testing.T, opts simcloud.Options) (*simcloud.Cloud, string) {
	t.Helper()
	c := simcloud.New(opts)
	t.Cleanup(c.Close)
	return c, c.AddUser("user@example.com", "correct-horse-battery")
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func countPath(reqs []simcloud.Request, method, path string) int {
	n := 0
	for _, r := range reqs {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

func TestLoginAndUserID(t *testing.T) {
	cloud, uid := newCloud(t, simcloud.Options{})
	tests := []struct {
		name     string
		creds    rainmaker.Credentials
		wantErr  error
		wantUser string
	}{
		{"password", rainmaker.Credentials{Username: "user@example.com", Password: "correct-horse-battery"}, nil, uid},
		{"wrong password", rainmaker.Credentials{Username: "user@example.com", Password: "wrong-password"}, rainmaker.ErrUnauthenticated, ""},
		{"unknown user", rainmaker.Credentials{Username: "nobody", Password: "x"}, rainmaker.ErrUnauthenticated, ""},
		{"bad refresh token", rainmaker.Credentials{RefreshToken: "not-a-refresh-token"}, rainmaker.ErrUnauthenticated, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := rainmaker.New(fastConfig(cloud.URL()), tc.creds)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.UserID(ctxT(t))
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got != tc.wantUser {
				t.Fatalf("user id = %q, want %q", got, tc.wantUser)
			}
			if err != nil {
				var ae *rainmaker.APIError
				if !errors.As(err, &ae) || ae.HTTPStatus != 401 || !strings.Contains(err.Error(), "Failure (") {
					t.Fatalf("want a formatted 401 APIError, got %v", err)
				}
			}
		})
	}
	// Login happened exactly once per successful client, no retries on 4xx.
	if n := countPath(cloud.Requests(), "POST", "/v1/login2"); n != len(tests) {
		t.Errorf("login2 requests = %d, want %d", n, len(tests))
	}
}

func TestRefreshTokenFromConfig(t *testing.T) {
	cloud, uid := newCloud(t, simcloud.Options{})
	tok, err := cloud.Login("user@example.com", "correct-horse-battery")
	if err != nil {
		t.Fatal(err)
	}
	c, err := rainmaker.New(fastConfig(cloud.URL()), rainmaker.Credentials{RefreshToken: tok.RefreshToken})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.UserID(ctxT(t))
	if err != nil || got != uid {
		t.Fatalf("UserID = %q, %v; want %q", got, err, uid)
	}
	if _, err := c.InitiateMapping(ctxT(t), 0); err != nil {
		t.Fatal(err)
	}
}

func TestRefreshWhenExpired(t *testing.T) {
	cloud, _ := newCloud(t, simcloud.Options{})
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	cfg := fastConfig(cloud.URL())
	cfg.Now = clock
	c, err := rainmaker.New(cfg, rainmaker.Credentials{Username: "user@example.com", Password: "correct-horse-battery"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if _, err := c.InitiateMapping(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.InitiateMapping(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if n := countPath(cloud.Requests(), "POST", "/v1/login2"); n != 1 {
		t.Fatalf("login2 calls before expiry = %d, want 1", n)
	}
	// The client's clock passes the token's exp: the next call refreshes first.
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if _, err := c.InitiateMapping(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if n := countPath(cloud.Requests(), "POST", "/v1/login2"); n != 2 {
		t.Fatalf("login2 calls after expiry = %d, want 2 (one refresh)", n)
	}
}

func TestRefreshOn401(t *testing.T) {
	cloud, _ := newCloud(t, simcloud.Options{})
	c, err := rainmaker.New(fastConfig(cloud.URL()), rainmaker.Credentials{Username: "user@example.com", Password: "correct-horse-battery"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if _, err := c.InitiateMapping(ctx, 0); err != nil {
		t.Fatal(err)
	}
	cloud.ExpireAccessTokens() // server-side expiry the client cannot see in exp
	if _, err := c.InitiateMapping(ctx, 0); err != nil {
		t.Fatalf("after server-side expiry: %v", err)
	}
	// Refresh token revoked too and no password: Unauthenticated.
	tok, _ := cloud.Login("user@example.com", "correct-horse-battery")
	c2, _ := rainmaker.New(fastConfig(cloud.URL()), rainmaker.Credentials{RefreshToken: tok.RefreshToken})
	if _, err := c2.InitiateMapping(ctx, 0); err != nil {
		t.Fatal(err)
	}
	cloud.ExpireAccessTokens()
	cloud.RevokeRefreshTokens()
	_, err = c2.InitiateMapping(ctx, 0)
	if !errors.Is(err, rainmaker.ErrUnauthenticated) {
		t.Fatalf("err = %v, want ErrUnauthenticated", err)
	}
	if errors.Is(err, rainmaker.ErrUnavailable) {
		t.Fatalf("auth failure also classified as unavailable: %v", err)
	}
}

func TestStaticTokensWithoutRenewal(t *testing.T) {
	cloud, _ := newCloud(t, simcloud.Options{})
	tok, _ := cloud.Login("user@example.com", "correct-horse-battery")
	c, err := rainmaker.New(fastConfig(cloud.URL()), rainmaker.Credentials{AccessToken: tok.AccessToken, IDToken: tok.IDToken})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if _, err := c.InitiateMapping(ctx, 0); err != nil {
		t.Fatal(err)
	}
	cloud.ExpireAccessTokens()
	if _, err := c.InitiateMapping(ctx, 0); !errors.Is(err, rainmaker.ErrUnauthenticated) {
		t.Fatalf("err = %v, want ErrUnauthenticated", err)
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		fail      int
		status    int
		wantErr   error
		wantCalls int
	}{
		{"no failure", 0, 0, nil, 1},
		{"two 503 within budget", 2, 503, nil, 3},
		{"three 500 beyond budget", 3, 500, rainmaker.ErrUnavailable, 3},
		{"502 beyond budget", 5, 502, rainmaker.ErrUnavailable, 3},
		{"4xx is not retried", 1, 404, nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cloud, _ := newCloud(t, simcloud.Options{})
			c, _ := rainmaker.New(fastConfig(cloud.URL()), rainmaker.Credentials{Username: "user@example.com", Password: "correct-horse-battery"})
			ctx := ctxT(t)
			if _, err := c.UserID(ctx); err != nil {
				t.Fatal(err)
			}
			cloud.FailNext(tc.fail, tc.status)
			start := time.Now()
			_, err := c.InitiateMapping(ctx, 0)
			elapsed := time.Since(start)
			switch {
			case tc.status == 404:
				var ae *rainmaker.APIError
				if !errors.As(err, &ae) || ae.HTTPStatus != 404 || errors.Is(err, rainmaker.ErrUnavailable) {
					t.Fatalf("err = %v, want a plain 404 APIError", err)
				}
			case tc.wantErr == nil && err != nil:
				t.Fatal(err)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got := countPath(cloud.Requests(), "POST", "/v1/user/nodes/mapping/initiate"); got != tc.wantCalls {
				t.Fatalf("initiate requests = %d, want %d", got, tc.wantCalls)
			}
			// Backoff is bounded: at most 2 waits of ≤ 1.2×20 ms.
			if elapsed > time.Second {
				t.Fatalf("took %v; backoff not bounded", elapsed)
			}
			if tc.wantErr != nil && !strings.Contains(err.Error(), fmt.Sprint(tc.status)) {
				t.Errorf("error %q does not name the last HTTP status", err)
			}
		})
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	var times []time.Time
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		w.WriteHeader(503)
	}))
	defer srv.Close()
	cfg := fastConfig(srv.URL)
	cfg.MaxAttempts = 5
	cfg.Backoff = 20 * time.Millisecond
	cfg.MaxBackoff = 40 * time.Millisecond
	c, _ := rainmaker.New(cfg, rainmaker.Credentials{Username: "u", Password: "p"})
	_, err := c.UserID(ctxT(t))
	if !errors.Is(err, rainmaker.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(times) != 5 {
		t.Fatalf("attempts = %d, want 5", len(times))
	}
	// Waits: 20, 40, 40, 40 ms with ±20 % jitter.
	want := []time.Duration{20, 40, 40, 40}
	for i, w := range want {
		gap := times[i+1].Sub(times[i])
		lo := w * time.Millisecond * 8 / 10
		hi := w*time.Millisecond*12/10 + 150*time.Millisecond
		if gap < lo || gap > hi {
			t.Errorf("wait %d = %v, want about %v ms", i, gap, w)
		}
	}
}

func TestNetworkErrorsAndTimeouts(t *testing.T) {
	// A closed port: connection refused on every attempt.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, _ := rainmaker.New(fastConfig("http://"+addr), rainmaker.Credentials{Username: "u", Password: "p"})
	if _, err := c.UserID(ctxT(t)); !errors.Is(err, rainmaker.ErrUnavailable) {
		t.Fatalf("refused: err = %v, want ErrUnavailable", err)
	}

	// Slow replies beyond the per-attempt timeout.
	cloud, _ := newCloud(t, simcloud.Options{})
	cloud.SetDelay(300 * time.Millisecond)
	cfg := fastConfig(cloud.URL())
	cfg.RequestTimeout = 50 * time.Millisecond
	cfg.MaxAttempts = 2
	c, _ = rainmaker.New(cfg, rainmaker.Credentials{Username: "user@example.com", Password: "correct-horse-battery"})
	start := time.Now()
	if _, err := c.UserID(ctxT(t)); !errors.Is(err, rainmaker.ErrUnavailable) {
		t.Fatalf("slow: err = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("slow: took %v", d)
	}

	// Caller's context cancelled during backoff: returns promptly with ctx error.
	cloud.SetDelay(0)
	cloud.FailNext(100, 503)
	cfg = fastConfig(cloud.URL())
	cfg.Backoff, cfg.MaxBackoff, cfg.MaxAttempts = 5*time.Second, 5*time.Second, 5
	c, _ = rainmaker.New(cfg, rainmaker.Credentials{Username: "user@example.com", Password: "correct-horse-battery"})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = c.UserID(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancel: err = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("cancel: took %v", d)
	}
}

func TestAPIErrorFormatting(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   string
	}{
		{400, `{"status":"failure","error_code":105046,"description":"Invalid tag format"}`, "HTTP 400: Failure (105046): Invalid tag format"},
		{400, `{"status":"failure","error_code":"105046","description":"Invalid tag format"}`, "HTTP 400: Failure (105046): Invalid tag format"},
		{400, `{"status":"failure","description":"User does not have available quota"}`, "HTTP 400: Failure: User does not have available quota"},
		{401, `{"message":"Unauthorized"}`, "HTTP 401: Error: Unauthorized"},
		{403, `<html>forbidden</html>`, "HTTP 403: HTTP Error: <html>forbidden</html>"},
		{404, ``, "HTTP 404: HTTP Error: Not Found"},
	}
	for _, tc := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/login2" {
				fmt.Fprint(w, `{"status":"success","idtoken":"h.eyJjdXN0b206dXNlcl9pZCI6InUifQ.s","accesstoken":"h.e30.s"}`)
				return
			}
			w.WriteHeader(tc.status)
			fmt.Fprint(w, tc.body)
		}))
		c, _ := rainmaker.New(fastConfig(srv.URL), rainmaker.Credentials{Username: "u", Password: "pass-word"})
		_, err := c.InitiateMapping(ctxT(t), 0)
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("status %d body %s: err = %v, want containing %q", tc.status, tc.body, err, tc.want)
		}
		if errors.Is(err, rainmaker.ErrUnauthenticated) != (tc.status == 401) {
			t.Errorf("status %d: ErrUnauthenticated classification wrong: %v", tc.status, err)
		}
	}
}

func TestRawAuthorizationHeaderAndScrubbing(t *testing.T) {
	var sawBearer atomic.Bool
	const access = "h.eyJleHAiOjk5OTk5OTk5OTl9.access-sig"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/login2":
			fmt.Fprintf(w, `{"status":"success","idtoken":"h.eyJjdXN0b206dXNlcl9pZCI6InUifQ.s","accesstoken":%q,"refreshtoken":"the-refresh-token"}`, access)
		default:
			if a := r.Header.Get("Authorization"); a != access {
				sawBearer.Store(true)
			}
			// A misbehaving server echoing secrets back in the error body.
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"status":"failure","error_code":1,"description":"bad token %s and %s and pass-word-123"}`, access, "the-refresh-token")
		}
	}))
	defer srv.Close()
	c, _ := rainmaker.New(fastConfig(srv.URL), rainmaker.Credentials{Username: "u", Password: "pass-word-123"})
	_, err := c.InitiateMapping(ctxT(t), 0)
	if err == nil {
		t.Fatal("want error")
	}
	if sawBearer.Load() {
		t.Fatal("Authorization header is not the raw access token")
	}
	for _, s := range []string{access, "the-refresh-token", "pass-word-123"} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error contains secret %q: %v", s, err)
		}
	}
}
