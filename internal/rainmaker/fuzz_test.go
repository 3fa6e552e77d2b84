package rainmaker_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/rainmaker"
	simcloud "github.com/espprov/espprov/internal/sim/cloud"
)

// reply is one recorded or scripted HTTP answer of the cloud.
type reply struct {
	code int
	body []byte
}

// recorder passes requests to a real transport and records the answers.
type recorder struct {
	rt      http.RoundTripper
	mu      sync.Mutex
	replies []reply
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.replies = append(r.replies, reply{resp.StatusCode, b})
	r.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// scripted answers every request with the next scripted reply (then 503).
type scripted struct{ next []reply }

func (s *scripted) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	r := reply{code: 503}
	if len(s.next) > 0 {
		r, s.next = s.next[0], s.next[1:]
	}
	return &http.Response{StatusCode: r.code, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(r.body)), Request: req}, nil
}

// cloudFlow runs every client call once: login, user id, challenge-response
// mapping, traditional mapping with its status and a node lookup.
func cloudFlow(ctx context.Context, c *rainmaker.Client) error {
	if _, err := c.UserID(ctx); err != nil {
		return err
	}
	ch, err := c.InitiateMapping(ctx, 60)
	if err != nil {
		return err
	}
	_ = c.VerifyMapping(ctx, rainmaker.VerifyRequest{RequestID: ch.RequestID, NodeID: "N1", ChallengeResponse: "00"})
	id, err := c.AddNodeMapping(ctx, rainmaker.AddMappingRequest{NodeID: "N1", SecretKey: "k"})
	if err != nil {
		return err
	}
	if _, err := c.MappingStatus(ctx, id); err != nil {
		return err
	}
	_, err = c.GetNode(ctx, "N1")
	return err
}

// FuzzCloudReplies feeds arbitrary status codes and JSON bodies to the
// RainMaker client as the cloud's answers (login tokens included). It must
// never panic, and no secret may appear in an error.
func FuzzCloudReplies(f *testing.F) {
	cloud := simcloud.New(simcloud.Options{})
	defer cloud.Close()
	cloud.AddUser("maker@example.com", "Sup3r-Secret")
	rec := &recorder{rt: http.DefaultTransport}
	c, err := rainmaker.New(rainmaker.Config{BaseURL: cloud.URL(), HTTPClient: &http.Client{Transport: rec}},
		rainmaker.Credentials{Username: "maker@example.com", Password: "Sup3r-Secret"})
	if err != nil {
		f.Fatal(err)
	}
	_ = cloudFlow(context.Background(), c)
	if len(rec.replies) < 3 {
		f.Fatalf("recorded %d cloud replies", len(rec.replies))
	}
	pad := func(i int) reply {
		if i < len(rec.replies) {
			return rec.replies[i]
		}
		return reply{200, []byte("{}")}
	}
	f.Add(uint16(pad(0).code), pad(0).body, uint16(pad(1).code), pad(1).body, uint16(pad(2).code), pad(2).body)
	f.Add(uint16(401), []byte(`{"status":"failure","error_code":101009,"description":"Incorrect user name or password"}`), uint16(200), []byte(`{}`), uint16(500), []byte(`x`))
	f.Add(uint16(200), []byte(`{"accesstoken":"a.b.c","idtoken":"x.eyJ9.y"}`), uint16(200), []byte(`{"error_code":"12"}`), uint16(200), []byte(`null`))
	url := cloud.URL()
	f.Fuzz(func(t *testing.T, c1 uint16, b1 []byte, c2 uint16, b2 []byte, c3 uint16, b3 []byte) {
		code := func(c uint16) int { return 100 + int(c)%500 }
		// The first reply is real (or fuzzed), the rest follow the recording.
		script := []reply{{code(c1), b1}, {code(c2), b2}, {code(c3), b3}}
		for i := 3; i < len(rec.replies); i++ {
			script = append(script, rec.replies[i])
		}
		st := &scripted{next: script}
		c, err := rainmaker.New(rainmaker.Config{BaseURL: url, HTTPClient: &http.Client{Transport: st},
			MaxAttempts: 2, Backoff: time.Microsecond, MaxBackoff: time.Microsecond},
			rainmaker.Credentials{Username: "maker@example.com", Password: "Sup3r-Secret"})
		if err != nil {
			t.Fatal(err)
		}
		err = cloudFlow(context.Background(), c)
		if err != nil && strings.Contains(err.Error(), "Sup3r-Secret") {
			t.Fatalf("password in error: %v", err)
		}
		if errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	})
}

// FuzzDecodeClaims: token claims from the cloud decode or fail cleanly.
func FuzzDecodeClaims(f *testing.F) {
	f.Add("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSIsImV4cCI6MTcwMDAwMDAwMCwiaXNzIjoiaHR0cHM6Ly9jb2duaXRvIn0.c2ln")
	f.Add("a.b")
	f.Add("..")
	f.Add("x.eyJleHAiOiIxIn0.y")
	f.Fuzz(func(t *testing.T, tok string) {
		_, _ = rainmaker.DecodeClaims(tok)
	})
}
