package server

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Every REST error, whether from the service, the gateway (a body that is
// not JSON) or the HTTP guard (a foreign Origin, an oversize body), has one
// shape:
//
//	{"error": {"code": 3, "status": "INVALID_ARGUMENT", "message": "…"}}
//
// code is the gRPC code number, status its name. A server stream that
// fails after its first result ends with a line of the same shape.

// restError is the body of a REST error.
type restError struct {
	Error restErrorBody `json:"error"`
}

type restErrorBody struct {
	Code    int32             `json:"code"`
	Status  string            `json:"status"`
	Message string            `json:"message"`
	Details []json.RawMessage `json:"details,omitempty"`
}

// codeName is the canonical upper-case name of a gRPC code
// ("INVALID_ARGUMENT").
func codeName(c codes.Code) string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return "UNKNOWN"
}

var codeNames = map[codes.Code]string{
	codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN", codes.InvalidArgument: "INVALID_ARGUMENT",
	codes.DeadlineExceeded: "DEADLINE_EXCEEDED", codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
	codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED", codes.OutOfRange: "OUT_OF_RANGE",
	codes.Unimplemented: "UNIMPLEMENTED", codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE",
	codes.DataLoss: "DATA_LOSS", codes.Unauthenticated: "UNAUTHENTICATED",
}

func errorBody(s *spb.Status) []byte {
	e := restError{Error: restErrorBody{Code: s.GetCode(), Status: codeName(codes.Code(s.GetCode())), Message: s.GetMessage()}}
	for _, d := range s.GetDetails() {
		if b, err := protojson.Marshal(d); err == nil {
			e.Error.Details = append(e.Error.Details, b)
		}
	}
	b, _ := json.Marshal(e)
	return b
}

// writeError answers a REST request with the error shape and an HTTP status.
func writeError(w http.ResponseWriter, httpStatus int, code codes.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(append(errorBody(status.New(code, msg).Proto()), '\n'))
}

// gatewayError is the gateway's error handler: the service's and the
// gateway's own errors (bad JSON, unknown fields) in the REST shape.
func gatewayError(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	httpStatus := 0
	var hs *runtime.HTTPStatusError
	if e, ok := err.(*runtime.HTTPStatusError); ok {
		hs = e
		err, httpStatus = e.Err, e.HTTPStatus
	}
	s := status.Convert(err)
	if hs == nil {
		httpStatus = runtime.HTTPStatusFromCode(s.Code())
	}
	w.Header().Del("Trailer")
	w.Header().Del("Transfer-Encoding")
	if s.Code() == codes.Unauthenticated {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(append(errorBody(s.Proto()), '\n'))
}

// routingError is the gateway's routing error handler: 404 for an unknown
// path, 405 with Allow for a known path and a wrong method.
func (g *guard) routingError(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	switch httpStatus {
	case http.StatusMethodNotAllowed:
		g.methodNotAllowed(w, r)
	case http.StatusNotFound:
		writeError(w, http.StatusNotFound, codes.NotFound, "no REST method at "+r.URL.Path+" (see /openapi.json)")
	default:
		writeError(w, httpStatus, codes.InvalidArgument, http.StatusText(httpStatus))
	}
}

// errorShapeMarshaler is the gateway's JSON marshaler, except that the
// error line closing a failed server stream gets the REST error shape.
type errorShapeMarshaler struct {
	runtime.Marshaler
}

func (m errorShapeMarshaler) Marshal(v any) ([]byte, error) {
	if chunk, ok := v.(map[string]proto.Message); ok && len(chunk) == 1 {
		if s, ok := chunk["error"].(*spb.Status); ok {
			return errorBody(s), nil
		}
	}
	return m.Marshaler.Marshal(v)
}

// Delimiter keeps newline-delimited streams.
func (m errorShapeMarshaler) Delimiter() []byte {
	if d, ok := m.Marshaler.(runtime.Delimited); ok {
		return d.Delimiter()
	}
	return []byte("\n")
}
