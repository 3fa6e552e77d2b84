package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/espprov/espprov/internal/identity"
)

func TestAcceptRequestID(t *testing.T) {
	for in, keep := range map[string]bool{
		"abc-123_x.y": true, "": false, strings.Repeat("a", 65): false, "a b": false, "a\nmsg=forged": false, "é": false,
	} {
		got := AcceptRequestID(in)
		if (got == in) != keep || got == "" {
			t.Errorf("%q → %q", in, got)
		}
	}
	if a, b := NewRequestID(), NewRequestID(); a == b || len(a) != 24 {
		t.Errorf("ids %q %q", a, b)
	}
}

// TestContextAttributes: a line logged with a call's context carries its
// request id and caller, also when the caller was noted later (the access
// log line written around authentication).
func TestContextAttributes(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "json", "debug")
	if err != nil {
		t.Fatal(err)
	}
	ctx := WithRequestID(context.Background(), "req-1")
	inner := identity.NewContext(ctx, identity.Identity{Kind: identity.KindToken, Name: "mes"})
	NoteCaller(inner)
	log.DebugContext(ctx, "outer")
	log.InfoContext(inner, "inner")
	log.Info("no context")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, want := range []map[string]string{
		{"request_id": "req-1", "caller": "token:mes"}, {"request_id": "req-1", "caller": "token:mes"}, {},
	} {
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("line %d: %s = %v, want %s", i, k, m[k], v)
			}
		}
		if len(want) == 0 && (m["request_id"] != nil || m["caller"] != nil) {
			t.Errorf("line without context has call attributes: %v", m)
		}
	}
	if _, err := New(&buf, "xml", "info"); err == nil {
		t.Error("format xml accepted")
	}
	if _, err := New(&buf, "text", "loud"); err == nil {
		t.Error("level loud accepted")
	}
}
