package rainmaker

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinel errors. Every error returned by the Client wraps at most one of
// them so that callers (the gRPC layer) can classify with errors.Is.
var (
	// ErrUnauthenticated: the cloud rejected the credentials (login failed,
	// refresh token expired or revoked, HTTP 401) or none were configured.
	ErrUnauthenticated = errors.New("rainmaker: not authenticated")
	// ErrUnavailable: the cloud could not be reached, or kept answering 5xx,
	// within the retry budget.
	ErrUnavailable = errors.New("rainmaker: cloud unavailable")
	// ErrBadResponse: the cloud answered 2xx with a body the client cannot use.
	ErrBadResponse = errors.New("rainmaker: unexpected cloud response")
	// ErrRegionMismatch: the ID token was issued by another region than the
	// configured base URL (reference CLI defect D14: this is an error here).
	ErrRegionMismatch = errors.New("rainmaker: token issuer does not match the configured region")
)

// ErrorCodeInvalidTag is the RainMaker API error code for malformed tags
// (docs/commands/node_tags_metadata.md).
const ErrorCodeInvalidTag = 105046

// APIError is a non-2xx reply of the RainMaker API, decoded from one of the
// error body shapes of rainmaker.md §4.4.
type APIError struct {
	// Op names the call, e.g. "verify mapping".
	Op string
	// HTTPStatus is the HTTP status code.
	HTTPStatus int
	// Status is the body's "status" field (usually "failure").
	Status string
	// Code is the body's "error_code" field (0 if absent).
	Code int64
	// Description is the body's "description" field.
	Description string
	// Message is the body's "message" field (API gateway errors).
	Message string
	// Raw is the body when it had none of the known shapes (truncated).
	Raw string
}

// Error formats the reply like the reference CLI does (§4.4), prefixed with
// the operation and HTTP status.
func (e *APIError) Error() string {
	var detail string
	switch {
	case e.Status != "" && e.Code != 0:
		detail = fmt.Sprintf("%s (%d): %s", capitalize(e.Status), e.Code, e.Description)
	case e.Status != "" && e.Description != "":
		detail = fmt.Sprintf("%s: %s", capitalize(e.Status), e.Description)
	case e.Message != "":
		detail = "Error: " + e.Message
	case e.Raw != "":
		detail = "HTTP Error: " + e.Raw
	default:
		detail = "HTTP Error: " + http.StatusText(e.HTTPStatus)
	}
	return fmt.Sprintf("rainmaker: %s: HTTP %d: %s", e.Op, e.HTTPStatus, detail)
}

// Unwrap classifies the reply: 401 is ErrUnauthenticated, 5xx is
// ErrUnavailable.
func (e *APIError) Unwrap() error {
	switch {
	case e.HTTPStatus == http.StatusUnauthorized:
		return ErrUnauthenticated
	case e.HTTPStatus >= 500:
		return ErrUnavailable
	}
	return nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// redactor removes known secrets from text that may end up in errors or logs
// (a server echoing a request body, a token inside a URL, ...).
type redactor []string

func (r redactor) scrub(s string) string {
	for _, secret := range r {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "[REDACTED]")
		}
	}
	return s
}
