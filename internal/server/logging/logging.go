// Package logging builds espprovd's structured logger (text or JSON, a
// level) and gives every API call a request id: taken from a well-formed
// incoming x-request-id or made up, returned as x-request-id, and added with
// the caller's identity to every log line written with the call's context.
package logging

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/espprov/espprov/internal/identity"
)

// Formats names the accepted --log-format values.
const Formats = "text, json"

// New returns a logger writing format ("text" or "json") at level
// ("debug", "info", "warn", "error") to w. Records logged with a call's
// context carry its request_id and caller.
func New(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	switch strings.ToLower(format) {
	case "", "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q: want %s", format, Formats)
	}
	return slog.New(ContextHandler{h}), nil
}

// ContextHandler adds request_id and caller from a record's context.
type ContextHandler struct{ slog.Handler }

// Handle implements slog.Handler.
func (h ContextHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	if c, ok := identity.FromContext(ctx); ok {
		r.AddAttrs(slog.String("caller", c.String()))
	} else if c := noted(ctx); c != nil {
		r.AddAttrs(slog.String("caller", c.String()))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h ContextHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return ContextHandler{h.Handler.WithAttrs(as)}
}

// WithGroup implements slog.Handler.
func (h ContextHandler) WithGroup(name string) slog.Handler {
	return ContextHandler{h.Handler.WithGroup(name)}
}

type reqIDKey struct{}

// call is what the request-id interceptor puts in a call's context: the id
// and a slot for the caller, filled by NoteCaller once authentication ran,
// so that the access log line written around the whole chain names it.
type call struct {
	id     string
	caller atomic.Pointer[identity.Identity]
}

// HeaderName is the metadata key and HTTP header carrying the request id.
const HeaderName = "x-request-id"

// WithRequestID returns ctx carrying id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, reqIDKey{}, &call{id: id})
}

// RequestID is the request id of the call ctx belongs to ("" if none).
func RequestID(ctx context.Context) string {
	if c, _ := ctx.Value(reqIDKey{}).(*call); c != nil {
		return c.id
	}
	return ""
}

func noted(ctx context.Context) *identity.Identity {
	if c, _ := ctx.Value(reqIDKey{}).(*call); c != nil {
		return c.caller.Load()
	}
	return nil
}

// NoteCaller records the caller identity in ctx (if ctx has a request
// id) for log lines written with an outer context of the same call.
func NoteCaller(ctx context.Context) {
	c, _ := ctx.Value(reqIDKey{}).(*call)
	id, ok := identity.FromContext(ctx)
	if c != nil && ok {
		c.caller.Store(&id)
	}
}

// NewRequestID returns a random id (24 hex digits).
func NewRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// AcceptRequestID keeps a caller's id when it is 1–64 characters of
// [A-Za-z0-9._-] (so it cannot forge log lines), else makes a new one.
func AcceptRequestID(in string) string {
	if len(in) == 0 || len(in) > 64 {
		return NewRequestID()
	}
	for _, c := range in {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return NewRequestID()
		}
	}
	return in
}
