package jobs

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/jobstore"
)

// CSVHeader is the header line of a CSV export.
var CSVHeader = []string{"job_id", "state", "request_id", "serial_number", "work_order", "station", "labels",
	"create_time", "start_time", "end_time", "transport", "device_key", "device_address", "device_name", "node_id",
	"last_confirmed_step", "error_code", "error", "ip4_address", "ssid", "mapped", "caller", "instance"}

func tsText(t interface {
	IsValid() bool
	AsTime() time.Time
}) string {
	if !t.IsValid() {
		return ""
	}
	return t.AsTime().UTC().Format(time.RFC3339Nano)
}

func labelsText(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ";")
}

// csvRow is one job as a CSV record. Cells that a spreadsheet would run as
// a formula are prefixed with a quote.
func csvRow(j *espprovv1.Job) []string {
	d, res := j.GetDevice(), j.GetResult()
	row := []string{j.GetJobId(), strings.TrimPrefix(j.GetState().String(), "JOB_STATE_"), j.GetRequestId(), j.GetSerialNumber(),
		j.GetWorkOrder(), j.GetStation(), labelsText(j.GetLabels()),
		tsText(j.GetCreateTime()), tsText(j.GetStartTime()), tsText(j.GetEndTime()),
		strings.TrimPrefix(d.GetTransport().String(), "TRANSPORT_"), d.GetDeviceKey(), d.GetAddress(), d.GetName(), d.GetNodeId(),
		strings.TrimPrefix(j.GetLastConfirmedStep().String(), "STEP_"), j.GetError().GetCode(), j.GetError().GetMessage(),
		res.GetIp4Address(), res.GetSsid(), fmt.Sprint(res.GetMapped()), j.GetCaller(), j.GetInstance()}
	for i, c := range row {
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			row[i] = "'" + c
		}
	}
	return row
}

// WriteExport writes the jobs matching f, newest first, in format to w.
func WriteExport(ctx context.Context, st jobstore.Store, f jobstore.Filter, format espprovv1.ExportFormat, w io.Writer) error {
	var cw *csv.Writer
	if format != espprovv1.ExportFormat_EXPORT_FORMAT_NDJSON {
		cw = csv.NewWriter(w)
		if err := cw.Write(CSVHeader); err != nil {
			return err
		}
	}
	f.Limit = 500
	for {
		js, err := st.List(ctx, f)
		if err != nil {
			return err
		}
		for _, j := range js {
			if cw != nil {
				if err := cw.Write(csvRow(j)); err != nil {
					return err
				}
				continue
			}
			b, err := protojson.Marshal(j)
			if err != nil {
				return err
			}
			if _, err := w.Write(append(b, '\n')); err != nil {
				return err
			}
		}
		if cw != nil {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
		}
		if len(js) < f.Limit {
			return nil
		}
		last := js[len(js)-1]
		f.After = &jobstore.Cursor{CreateTime: last.GetCreateTime().AsTime(), ID: last.GetJobId()}
	}
}

// chunkWriter sends what is written as ExportJobsResponse chunks.
type chunkWriter struct {
	send func(*espprovv1.ExportJobsResponse) error
}

func (c chunkWriter) Write(p []byte) (int, error) {
	if err := c.send(&espprovv1.ExportJobsResponse{Data: append([]byte(nil), p...)}); err != nil {
		return 0, err
	}
	return len(p), nil
}

// ExportJobs implements the RPC.
func (s *Server) ExportJobs(req *espprovv1.ExportJobsRequest, stream grpc.ServerStreamingServer[espprovv1.ExportJobsResponse]) error {
	f, err := exportFilter(req)
	if err != nil {
		return err
	}
	if _, ok := espprovv1.ExportFormat_name[int32(req.GetFormat())]; !ok {
		return invalid("format %d is not known: EXPORT_FORMAT_CSV or EXPORT_FORMAT_NDJSON", req.GetFormat())
	}
	bw := bufio.NewWriterSize(chunkWriter{send: stream.Send}, 32<<10)
	if err := WriteExport(stream.Context(), s.r.store, f, req.GetFormat(), bw); err != nil {
		if _, ok := status.FromError(err); ok {
			return err
		}
		return storeErr(stream.Context(), err)
	}
	return bw.Flush()
}

// RegisterExportHandler serves GET /v1/jobs:export on the gateway mux with
// the file itself as the body (text/csv or application/x-ndjson), by
// calling ExportJobs over conn with the request's headers as metadata (so
// the server's authentication applies as to every other route).
func RegisterExportHandler(mux *runtime.ServeMux, conn grpc.ClientConnInterface) error {
	client := espprovv1.NewProvisioningServiceClient(conn)
	return mux.HandlePath(http.MethodGet, "/v1/jobs:export", func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
		req := &espprovv1.ExportJobsRequest{}
		q := r.URL.Query()
		format := strings.ToLower(q.Get("format"))
		q.Del("format")
		switch format {
		case "", "csv", "export_format_csv":
			req.Format = espprovv1.ExportFormat_EXPORT_FORMAT_CSV
		case "ndjson", "export_format_ndjson":
			req.Format = espprovv1.ExportFormat_EXPORT_FORMAT_NDJSON
		default:
			runtime.HTTPError(r.Context(), mux, &runtime.JSONPb{}, w, r, status.Errorf(codes.InvalidArgument, "format %q: use csv or ndjson", format))
			return
		}
		if err := runtime.PopulateQueryParameters(req, q, utilities.NewDoubleArray(nil)); err != nil {
			runtime.HTTPError(r.Context(), mux, &runtime.JSONPb{}, w, r, status.Errorf(codes.InvalidArgument, "%v", err))
			return
		}
		ctx, err := runtime.AnnotateContext(r.Context(), mux, r, "/espprov.v1.ProvisioningService/ExportJobs", runtime.WithHTTPPathPattern("/v1/jobs:export"))
		if err != nil {
			runtime.HTTPError(r.Context(), mux, &runtime.JSONPb{}, w, r, err)
			return
		}
		stream, err := client.ExportJobs(ctx, req)
		if err != nil {
			runtime.HTTPError(ctx, mux, &runtime.JSONPb{}, w, r, err)
			return
		}
		first, err := stream.Recv()
		if err != nil && err != io.EOF {
			runtime.HTTPError(ctx, mux, &runtime.JSONPb{}, w, r, err)
			return
		}
		ctype, ext := "text/csv; charset=utf-8", "csv"
		if req.Format == espprovv1.ExportFormat_EXPORT_FORMAT_NDJSON {
			ctype, ext = "application/x-ndjson", "ndjson"
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Disposition", `attachment; filename="espprov-jobs.`+ext+`"`)
		for m := first; m != nil; {
			if _, err := w.Write(m.GetData()); err != nil {
				return
			}
			next, err := stream.Recv()
			if err != nil {
				return // EOF, or a failure after the status line was sent: the body ends short
			}
			m = next
		}
	})
}

// GatewayRoutes are the hand-written REST routes of the jobs API, for
// server.Options.GatewayRoutes.
var GatewayRoutes = []func(*runtime.ServeMux, grpc.ClientConnInterface) error{RegisterExportHandler}
