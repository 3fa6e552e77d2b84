package jobs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/validate"
)

// secretField reports whether a field holds a secret. By name, so that a
// field added later (a Thread network key, a token) is dropped too.
func secretField(name string) bool {
	n := strings.ToLower(name)
	if n == "dataset" || n == "custom_data" { // Thread dataset (holds the network key); application data
		return true
	}
	for _, s := range []string{"pop", "passphrase", "password", "token", "secret", "psk", "key", "credential"} {
		if n == s || strings.HasSuffix(n, "_"+s) || strings.HasPrefix(n, s+"_") || strings.Contains(n, "password") || strings.Contains(n, "passphrase") || strings.Contains(n, "token") {
			return true
		}
	}
	return false
}

// Redact returns a copy of req without any secret field (recursively):
// what a job stores.
func Redact(req *espprovv1.ProvisionRequest) *espprovv1.ProvisionRequest {
	c := proto.Clone(req).(*espprovv1.ProvisionRequest)
	redact(c.ProtoReflect())
	return c
}

func redact(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case secretField(string(fd.Name())) && (fd.IsMap() || fd.IsList() || fd.Kind() != protoreflect.MessageKind):
			m.Clear(fd)
		case fd.IsMap():
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool { redact(mv.Message()); return true })
			}
		case fd.IsList():
			if fd.Kind() == protoreflect.MessageKind {
				for i := 0; i < v.List().Len(); i++ {
					redact(v.List().Get(i).Message())
				}
			}
		case fd.Kind() == protoreflect.MessageKind:
			if fd.Message().FullName() == "google.protobuf.Struct" {
				return true // mapping metadata: the caller's data, stored as given
			}
			redact(v.Message())
		}
		return true
	})
}

// Fingerprint identifies a request for the idempotency check: a hash of
// the redacted request, deterministic across processes.
func Fingerprint(redacted *espprovv1.ProvisionRequest) string {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(redacted)
	if err != nil {
		panic(fmt.Sprintf("jobs: fingerprint: %v", err)) // a valid message always marshals
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Bounds of the traceability fields.
const (
	maxIDLen       = 128
	requestIDChars = `^[A-Za-z0-9._:\-]+$`
)

var requestIDRe = regexp.MustCompile(requestIDChars)

// checkTraceability validates request_id, serial_number, work_order,
// station and labels.
func checkTraceability(req *espprovv1.ProvisionRequest) error {
	if id := req.GetRequestId(); id != "" {
		if len(id) > maxIDLen || !requestIDRe.MatchString(id) {
			return invalid("request_id must be 1 to %d characters of letters, digits, '.', '_', ':' or '-' (got %d characters)", maxIDLen, len(id))
		}
	}
	for name, v := range map[string]string{"serial_number": req.GetSerialNumber(), "work_order": req.GetWorkOrder(), "station": req.GetStation()} {
		if len(v) > maxIDLen || !utf8.ValidString(v) || strings.ContainsAny(v, "\r\n\x00") {
			return invalid("%s must be at most %d characters of UTF-8 text on one line", name, maxIDLen)
		}
	}
	return checkLabels(req.GetLabels(), false)
}

// checkLabels validates labels. With merging they are changes
// (UpdateJobLabels) whose count is checked on the merged result instead.
func checkLabels(labels map[string]string, merging bool) error {
	if n := len(labels); n > validate.MaxLabels && !merging {
		return invalid("labels: at most %d labels (got %d)", validate.MaxLabels, n)
	}
	for k, v := range labels {
		if err := validate.Label(k, v); err != nil {
			return invalid("%v", err)
		}
	}
	return nil
}
