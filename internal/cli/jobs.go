package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
)

// traceFlags are provision's job fields (espprovd records every
// provisioning as a job).
type traceFlags struct {
	requestID, serial, workOrder, station string
	labels                                []string
}

func (f *traceFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.requestID, "request-id", "", "idempotency key (--server): the same key attaches to the job it started, also after a dropped connection, instead of provisioning again")
	fs.StringVar(&f.serial, "serial-number", "", "the unit's serial number, recorded with the job (--server)")
	fs.StringVar(&f.workOrder, "work-order", "", "work order, recorded with the job (--server)")
	fs.StringVar(&f.station, "station", "", "station name, recorded with the job (--server)")
	fs.StringArrayVar(&f.labels, "label", nil, "KEY=VALUE recorded with the job (--server); repeatable")
}

func (f *traceFlags) apply(a *app, req *espprovv1.ProvisionRequest) error {
	if f.requestID == "" && f.serial == "" && f.workOrder == "" && f.station == "" && len(f.labels) == 0 {
		return nil
	}
	if a.server == "" {
		return usageErr("--request-id, --serial-number, --work-order, --station and --label are recorded in espprovd's job store: pass --server")
	}
	req.RequestId, req.SerialNumber, req.WorkOrder, req.Station = f.requestID, f.serial, f.workOrder, f.station
	for _, l := range f.labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return usageErr("--label %q: want KEY=VALUE", l)
		}
		if req.Labels == nil {
			req.Labels = map[string]string{}
		}
		req.Labels[k] = v
	}
	return nil
}

// reattachable: the connection to the server dropped (or the server is
// restarting); a Provision with a request_id can attach to its job again.
func reattachable(err error) bool { return status.Code(err) == codes.Unavailable }

// maxReattach bounds the attempts to reattach after a dropped connection.
const maxReattach = 20

// sleepCtx waits d unless ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (a *app) jobsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "List, follow, cancel and export espprovd's provisioning jobs (--server)",
		Long: `Every provisioning espprovd runs is a job with a durable record: its state,
steps, device, error and the traceability fields of the request.

` + exitCodesHelp,
		Example: `  espprov --server line3:50051 jobs list --work-order WO-77 --state failed
  espprov --server line3:50051 jobs get job-mxbp66hz-8633a755685c43ce
  espprov --server line3:50051 jobs watch job-mxbp66hz-8633a755685c43ce
  espprov --server line3:50051 jobs cancel job-mxbp66hz-8633a755685c43ce
  espprov --server line3:50051 jobs export --format csv --since 24h > jobs.csv`,
		Args: cobra.NoArgs,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if p := cmd.Root(); p.PersistentPreRunE != nil {
				if err := p.PersistentPreRunE(cmd, args); err != nil {
					return err
				}
			}
			if a.server == "" {
				return usageErr("jobs live in espprovd's job store: pass --server HOST:PORT")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageErr("jobs needs a subcommand: list, get, watch, cancel or export")
		},
	}
	cmd.AddCommand(a.jobsListCommand(), a.jobsGetCommand(), a.jobsWatchCommand(), a.jobsCancelCommand(), a.jobsExportCommand())
	for _, c := range cmd.Commands() {
		c.SilenceUsage = true
	}
	return cmd
}

// jobFilterFlags are the filter flags of list and export.
type jobFilterFlags struct {
	states                                                []string
	device, nodeID, serial, workOrder, station, requestID string
	since, until                                          string
}

func (f *jobFilterFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.states, "state", nil, "queued, running, succeeded, failed, cancelled or interrupted; repeatable")
	fs.StringVar(&f.device, "device", "", "device key, address or name")
	fs.StringVar(&f.nodeID, "node-id", "", "RainMaker node id")
	fs.StringVar(&f.serial, "serial-number", "", "serial number")
	fs.StringVar(&f.workOrder, "work-order", "", "work order")
	fs.StringVar(&f.station, "station", "", "station")
	fs.StringVar(&f.requestID, "request-id", "", "request id")
	fs.StringVar(&f.since, "since", "", "created at or after: RFC 3339 time or a duration ago (24h)")
	fs.StringVar(&f.until, "until", "", "created before: RFC 3339 time or a duration ago")
}

func parseWhen(flag, v string, now time.Time) (*timestamppb.Timestamp, error) {
	if v == "" {
		return nil, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return timestamppb.New(now.Add(-d)), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, usageErr("--%s %q: want an RFC 3339 time (2026-12-06T08:00:00Z) or a duration (24h)", flag, v)
	}
	return timestamppb.New(t), nil
}

// filter is the filter as ListJobsRequest (ExportJobsRequest copies it).
func (f *jobFilterFlags) filter() (*espprovv1.ListJobsRequest, error) {
	r := &espprovv1.ListJobsRequest{Device: f.device, NodeId: f.nodeID, SerialNumber: f.serial, WorkOrder: f.workOrder, Station: f.station, RequestId: f.requestID}
	for _, s := range f.states {
		v, ok := espprovv1.JobState_value["JOB_STATE_"+strings.ToUpper(strings.TrimPrefix(strings.ToUpper(s), "JOB_STATE_"))]
		if !ok || v == 0 {
			return nil, usageErr("--state %q: use queued, running, succeeded, failed, cancelled or interrupted", s)
		}
		r.States = append(r.States, espprovv1.JobState(v))
	}
	var err error
	now := time.Now()
	if r.CreatedAfter, err = parseWhen("since", f.since, now); err != nil {
		return nil, err
	}
	if r.CreatedBefore, err = parseWhen("until", f.until, now); err != nil {
		return nil, err
	}
	return r, nil
}

func stateWord(s espprovv1.JobState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "JOB_STATE_"))
}

func stepWord(s espprovv1.Step) string {
	if s == espprovv1.Step_STEP_UNSPECIFIED {
		return "-"
	}
	return strings.ToLower(strings.TrimPrefix(s.String(), "STEP_"))
}

func timeWord(t *timestamppb.Timestamp) string {
	if !t.IsValid() {
		return "-"
	}
	return t.AsTime().Local().Format("2006-01-02 15:04:05")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// withClient connects to --server and runs f.
func (a *app) withClient(cmd *cobra.Command, f func(ctx context.Context, cl *client) error) error {
	cl, err := a.connect()
	if err != nil {
		return err
	}
	defer cl.close()
	return f(cmd.Context(), cl)
}

func (a *app) jobsListCommand() *cobra.Command {
	var ff jobFilterFlags
	var limit int32
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List jobs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, err := ff.filter()
			if err != nil {
				return err
			}
			if limit < 1 || limit > 1000 {
				return usageErr("--limit must be between 1 and 1000")
			}
			req.PageSize = limit
			return a.withClient(cmd, func(ctx context.Context, cl *client) error {
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				if !a.json() {
					fmt.Fprintln(tw, "JOB\tSTATE\tCREATED\tSERIAL\tWORK ORDER\tSTATION\tDEVICE\tLAST STEP\tERROR")
				}
				for {
					resp, err := cl.ListJobs(ctx, req)
					if err != nil {
						return apiErr(err, nil, callKind{remote: a.server})
					}
					for _, j := range resp.GetJobs() {
						if a.json() {
							writeProtoLine(a.stdout, j)
							continue
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.GetJobId(), stateWord(j.GetState()), timeWord(j.GetCreateTime()),
							dash(printable(j.GetSerialNumber())), dash(printable(j.GetWorkOrder())), dash(printable(j.GetStation())),
							dash(j.GetDevice().GetAddress()+j.GetDevice().GetName()), stepWord(j.GetLastConfirmedStep()), dash(truncate(j.GetError().GetMessage(), 60)))
					}
					if !all || resp.GetNextPageToken() == "" {
						if resp.GetNextPageToken() != "" && !a.json() {
							tw.Flush()
							fmt.Fprintln(a.stderr, "(more jobs: --all, or narrow the filter)")
						}
						return tw.Flush()
					}
					req.PageToken = resp.GetNextPageToken()
				}
			})
		},
	}
	ff.register(cmd.Flags())
	cmd.Flags().Int32Var(&limit, "limit", 50, "jobs per page (1-1000)")
	cmd.Flags().BoolVar(&all, "all", false, "every page")
	return cmd
}

func jobIDArg(cmd *cobra.Command, args []string) error {
	if len(args) != 1 || args[0] == "" {
		return usageErr("%s takes one argument: the job id (see 'espprov jobs list')", cmd.Name())
	}
	return nil
}

func (a *app) printJob(j *espprovv1.Job) {
	if a.json() {
		writeProtoLine(a.stdout, j)
		return
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%s\t%s\n", k, printable(v))
		}
	}
	d := j.GetDevice()
	row("Job:", j.GetJobId())
	row("State:", stateWord(j.GetState()))
	row("Request id:", j.GetRequestId())
	row("Serial number:", j.GetSerialNumber())
	row("Work order:", j.GetWorkOrder())
	row("Station:", j.GetStation())
	for k, v := range j.GetLabels() {
		row("Label:", k+"="+v)
	}
	row("Device:", strings.TrimSpace(transportString(d.GetTransport())+" "+d.GetAddress()+" "+d.GetName()))
	row("Node id:", d.GetNodeId())
	if info := d.GetDeviceInfo(); info != nil {
		row("Device info:", fmt.Sprintf("%s, security %s", info.GetVersion(), secNumber(info.GetSecurity())))
	}
	row("Created:", timeWord(j.GetCreateTime()))
	if j.GetEndTime().IsValid() {
		row("Ended:", timeWord(j.GetEndTime()))
	}
	row("Last confirmed step:", stepWord(j.GetLastConfirmedStep()))
	if e := j.GetError(); e.GetCode() != "" {
		row("Error:", e.GetCode()+": "+e.GetMessage())
	}
	if r := j.GetResult(); r.GetIp4Address() != "" {
		row("Station IP:", r.GetIp4Address())
	}
	row("Caller:", j.GetCaller())
	row("Instance:", j.GetInstance())
	if j.GetCancelRequested() {
		row("Cancel requested:", "yes")
	}
	w.Flush()
	if len(j.GetSteps()) > 0 {
		fmt.Fprintln(a.stdout, "Steps:")
		w = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		for _, s := range j.GetSteps() {
			dur := "-"
			if s.GetEndTime().IsValid() {
				dur = s.GetEndTime().AsTime().Sub(s.GetStartTime().AsTime()).Round(time.Millisecond).String()
			}
			fmt.Fprintf(w, "  %d\t%s\t%s\t%s\t%s\n", s.GetSequence(), stepWord(s.GetStep()), s.GetOutcome(), dur, printable(s.GetMessage()))
		}
		w.Flush()
	}
}

func (a *app) jobsGetCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "get JOB_ID",
		Short: "Show one job: state, steps, device, error",
		Args:  jobIDArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, cl *client) error {
				j, err := cl.GetJob(ctx, &espprovv1.GetJobRequest{JobId: args[0]})
				if err != nil {
					return apiErr(err, nil, callKind{remote: a.server})
				}
				a.printJob(j)
				return nil
			})
		},
	}
}

func (a *app) jobsCancelCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "cancel JOB_ID",
		Short: "Stop a job at its next safe point",
		Args:  jobIDArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, cl *client) error {
				j, err := cl.CancelJob(ctx, &espprovv1.CancelJobRequest{JobId: args[0]})
				if err != nil {
					return apiErr(err, nil, callKind{remote: a.server})
				}
				if a.json() {
					writeProtoLine(a.stdout, j)
				} else if j.GetState() == espprovv1.JobState_JOB_STATE_QUEUED || j.GetState() == espprovv1.JobState_JOB_STATE_RUNNING {
					fmt.Fprintf(a.stdout, "Cancel requested for %s (now %s after %s); 'espprov jobs watch %s' follows it to its end\n", j.GetJobId(), stateWord(j.GetState()), stepWord(j.GetLastConfirmedStep()), j.GetJobId())
				} else {
					fmt.Fprintf(a.stdout, "%s is %s\n", j.GetJobId(), stateWord(j.GetState()))
				}
				return nil
			})
		},
	}
}

// jobOutcome is the exit status of a job that ended.
func jobOutcome(ev *espprovv1.ProvisionResponse, k callKind) error {
	switch ev.GetJobState() {
	case espprovv1.JobState_JOB_STATE_SUCCEEDED:
		return nil
	case espprovv1.JobState_JOB_STATE_CANCELLED:
		return codeErr(ExitInterrupted, "the job was cancelled: %s", ev.GetResult().GetError())
	}
	code := codes.Unknown
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if c.String() == ev.GetResult().GetErrorCode() {
			code = c
		}
	}
	return apiErr(status.Error(code, ev.GetResult().GetError()), ev.GetResult(), k)
}

func (a *app) jobsWatchCommand() *cobra.Command {
	var after uint64
	cmd := &cobra.Command{
		Use:   "watch JOB_ID",
		Short: "Replay a job's events and follow it to its end",
		Long:  "Replay a job's events and follow it to its end; the exit code is the job's outcome.\n\n" + exitCodesHelp,
		Args:  jobIDArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, cl *client) error {
				st, err := cl.WatchJob(ctx, &espprovv1.WatchJobRequest{JobId: args[0], AfterSequence: after})
				if err != nil {
					return apiErr(err, nil, callKind{remote: a.server})
				}
				r := &renderer{ui: a.ui, json: a.json(), out: a.stdout}
				for {
					ev, err := st.Recv()
					if errors.Is(err, io.EOF) {
						return codeErr(ExitInternal, "the job's event stream ended without its result")
					}
					if err != nil {
						return apiErr(err, nil, callKind{remote: a.server})
					}
					if a.json() {
						writeProtoLine(a.stdout, ev)
					} else {
						r.event(ev)
					}
					if ev.GetJobState() >= espprovv1.JobState_JOB_STATE_SUCCEEDED {
						a.ui.stopSpinner()
						return jobOutcome(ev, callKind{remote: a.server})
					}
				}
			})
		},
	}
	cmd.Flags().Uint64Var(&after, "after", 0, "replay only events after this sequence number")
	return cmd
}

func (a *app) jobsExportCommand() *cobra.Command {
	var ff jobFilterFlags
	var format, out string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export jobs as CSV or NDJSON (for MES import)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lr, err := ff.filter()
			if err != nil {
				return err
			}
			req := &espprovv1.ExportJobsRequest{States: lr.GetStates(), Device: lr.GetDevice(), NodeId: lr.GetNodeId(), SerialNumber: lr.GetSerialNumber(),
				WorkOrder: lr.GetWorkOrder(), Station: lr.GetStation(), RequestId: lr.GetRequestId(), CreatedAfter: lr.GetCreatedAfter(), CreatedBefore: lr.GetCreatedBefore()}
			switch strings.ToLower(format) {
			case "csv":
				req.Format = espprovv1.ExportFormat_EXPORT_FORMAT_CSV
			case "ndjson":
				req.Format = espprovv1.ExportFormat_EXPORT_FORMAT_NDJSON
			default:
				return usageErr("--format %q: use csv or ndjson", format)
			}
			return a.withClient(cmd, func(ctx context.Context, cl *client) error {
				st, err := cl.ExportJobs(ctx, req)
				if err != nil {
					return apiErr(err, nil, callKind{remote: a.server})
				}
				var w io.Writer = a.stdout
				var f *os.File
				if out != "" && out != "-" {
					if f, err = os.Create(out); err != nil {
						return codeErr(ExitInternal, "--file: %v", err)
					}
					w = f
				}
				for {
					m, err := st.Recv()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						if f != nil {
							f.Close()
							os.Remove(out)
						}
						return apiErr(err, nil, callKind{remote: a.server})
					}
					if _, err := w.Write(m.GetData()); err != nil {
						return codeErr(ExitInternal, "writing the export: %v", err)
					}
				}
				if f != nil {
					return f.Close()
				}
				return nil
			})
		},
	}
	ff.register(cmd.Flags())
	cmd.Flags().StringVar(&format, "format", "csv", "csv or ndjson")
	cmd.Flags().StringVarP(&out, "file", "f", "", "write to `FILE` instead of standard output")
	return cmd
}
