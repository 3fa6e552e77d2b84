package jobs_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/sim/device"
	"github.com/espprov/espprov/services/jobs"
)

func readFiles(t testing.TB, paths ...string) []byte {
	t.Helper()
	var out []byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

// scanSecrets fails if a test secret is in the store or the logs.
func scanSecrets(t *testing.T, h *harness) {
	t.Helper()
	stored := h.dump()
	if len(stored) == 0 {
		t.Fatal("secret scan: the store is empty (nothing was scanned)")
	}
	for _, s := range secrets {
		if bytes.Contains(stored, []byte(s)) {
			t.Errorf("the job store holds the secret %q", s)
		}
		if bytes.Contains(h.logs.Bytes(), []byte(s)) {
			t.Errorf("the server log holds the secret %q", s)
		}
	}
}

func stepsOf(evs []*espprovv1.ProvisionResponse) []espprovv1.Step {
	var out []espprovv1.Step
	for _, e := range evs {
		out = append(out, e.GetStep())
	}
	return out
}

// TestJobOutlivesCaller: the caller drops the Provision stream mid-job; the
// job still succeeds, and WatchJob (gRPC and REST) replays every event.
func TestJobOutlivesCaller(t *testing.T) {
	stores(t, func(t *testing.T, k storeKind) {
		h := start(t, k, options{})
		var g *gate
		d := startDevice(t, device.Config{}, func(p device.Protocomm) device.Protocomm { g = newGate(p, "prov-config"); return g })
		req := provisionReq(d.addr)
		req.RequestId, req.SerialNumber, req.WorkOrder, req.Station = "mes-1", "SN-0001", "WO-77", "line3-st1"
		req.Labels = map[string]string{"batch": "b42"}
		callCtx, drop := context.WithCancel(testCtx(t))
		stream, err := h.client.Provision(callCtx, req)
		if err != nil {
			t.Fatal(err)
		}
		first, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		id := first.GetJobId()
		if id == "" || first.GetSequence() != 1 || first.GetJobState() != espprovv1.JobState_JOB_STATE_RUNNING {
			t.Fatalf("first event %v: want job_id, sequence 1, state running", first)
		}
		<-g.reached // the job is at SetConfig
		drop()      // the caller goes away
		g.open()

		ctx := testCtx(t)
		w, err := h.client.WatchJob(ctx, &espprovv1.WatchJobRequest{JobId: id})
		if err != nil {
			t.Fatal(err)
		}
		evs, err := drain[*espprovv1.ProvisionResponse](w)
		if err != nil {
			t.Fatalf("WatchJob: %v", err)
		}
		for i, ev := range evs {
			if ev.GetSequence() != uint64(i+1) || ev.GetJobId() != id {
				t.Fatalf("event %d: sequence %d job %s", i, ev.GetSequence(), ev.GetJobId())
			}
		}
		last := evs[len(evs)-1]
		if !last.GetResult().GetSuccess() || last.GetJobState() != espprovv1.JobState_JOB_STATE_SUCCEEDED {
			t.Fatalf("last event %v", last)
		}
		want := []espprovv1.Step{espprovv1.Step_STEP_CONNECTING, espprovv1.Step_STEP_SECURITY_DETECTED, espprovv1.Step_STEP_SESSION_ESTABLISHED,
			espprovv1.Step_STEP_CREDENTIALS_SENT, espprovv1.Step_STEP_CONFIG_APPLIED}
		got := stepsOf(evs)
		for i, s := range want {
			if got[i] != s {
				t.Fatalf("steps %v, want prefix %v", got, want)
			}
		}
		if d.dev.Wifi().State != device.WifiConnected {
			t.Errorf("device Wi-Fi %v, want connected", d.dev.Wifi())
		}
		// A cursor replays only what follows it.
		w2, err := h.client.WatchJob(ctx, &espprovv1.WatchJobRequest{JobId: id, AfterSequence: 3})
		if err != nil {
			t.Fatal(err)
		}
		tail, err := drain[*espprovv1.ProvisionResponse](w2)
		if err != nil || len(tail) != len(evs)-3 || tail[0].GetSequence() != 4 {
			t.Fatalf("WatchJob after 3: %d events (%v), want %d from 4", len(tail), err, len(evs)-3)
		}
		job, err := h.client.GetJob(ctx, &espprovv1.GetJobRequest{JobId: id})
		if err != nil {
			t.Fatal(err)
		}
		if job.GetState() != espprovv1.JobState_JOB_STATE_SUCCEEDED || len(job.GetSteps()) != len(evs) ||
			job.GetSerialNumber() != "SN-0001" || job.GetWorkOrder() != "WO-77" || job.GetStation() != "line3-st1" || job.GetLabels()["batch"] != "b42" ||
			job.GetDevice().GetDeviceInfo().GetSecurity() != espprovv1.SecurityScheme_SECURITY_SCHEME_2 || job.GetResult().GetIp4Address() == "" ||
			job.GetLastConfirmedStep() != espprovv1.Step_STEP_WIFI_STATE || job.GetEndTime() == nil {
			t.Errorf("GetJob: %v", job)
		}
		for _, s := range job.GetSteps() {
			if s.GetStartTime() == nil || s.GetEndTime() == nil || s.GetOutcome() != "ok" {
				t.Errorf("step %v", s)
			}
		}
		if job.GetRequest().GetWifi().GetPassphrase() != "" || job.GetRequest().GetSecurity().GetSec2Password() != "" || job.GetRequest().GetWifi().GetSsid() != testSSID {
			t.Errorf("stored request not redacted as expected: %v", job.GetRequest())
		}

		// REST: the job, its events as NDJSON.
		base := "http://" + h.srv.HTTPAddr()
		var rj map[string]any
		getJSON(t, base+"/v1/jobs/"+id, &rj)
		if rj["jobId"] != id || rj["state"] != "JOB_STATE_SUCCEEDED" || rj["serialNumber"] != "SN-0001" || rj["workOrder"] != "WO-77" || rj["requestId"] != "mes-1" {
			t.Errorf("GET /v1/jobs/%s: %v", id, rj)
		}
		lines := getLines(t, base+"/v1/jobs/"+id+":watch")
		if len(lines) != len(evs) || !strings.Contains(lines[0], `"jobId":"`+id+`"`) || !strings.Contains(lines[len(lines)-1], "JOB_STATE_SUCCEEDED") {
			t.Errorf("GET :watch: %d lines, want %d: %q", len(lines), len(evs), lines)
		}
		scanSecrets(t, h)
	})
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, b)
	}
}

func getLines(t *testing.T, url string) []string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	var out []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// TestOneJobPerDeviceAndLimits: a second job for a busy device is refused
// with ABORTED naming the running job; past a transport's limit
// RESOURCE_EXHAUSTED carries a retry hint; bad input records nothing.
func TestOneJobPerDeviceAndLimits(t *testing.T) {
	queue := &queueRecorder{}
	h := start(t, sqliteKind(t.TempDir()), options{queue: queue, limits: map[espprovv1.Transport]jobs.Limit{espprovv1.Transport_TRANSPORT_HTTPD: {Concurrent: 1, Waiting: 1}}})
	var g *gate
	d := startDevice(t, device.Config{}, func(p device.Protocomm) device.Protocomm { g = newGate(p, "prov-config"); return g })
	ctx := testCtx(t)
	s1, err := h.client.Provision(ctx, provisionReq(d.addr))
	if err != nil {
		t.Fatal(err)
	}
	first, err := s1.Recv()
	if err != nil {
		t.Fatal(err)
	}
	<-g.reached
	_, err = drain[*espprovv1.ProvisionResponse](mustProvision(t, h, ctx, provisionReq(d.addr)))
	if status.Code(err) != codes.Aborted || !strings.Contains(status.Convert(err).Message(), first.GetJobId()) {
		t.Fatalf("second job on the device: %v, want ABORTED naming %s", err, first.GetJobId())
	}
	// A second device queues (waiting 1), a third is refused.
	d2 := startDevice(t, device.Config{}, nil)
	d3 := startDevice(t, device.Config{}, nil)
	s2 := mustProvision(t, h, ctx, provisionReq(d2.addr))
	q, err := s2.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if got := queue.last("httpd"); got != 1 {
		t.Errorf("queue depth while the second job waits: %d, want 1", got)
	}
	_, err = drain[*espprovv1.ProvisionResponse](mustProvision(t, h, ctx, provisionReq(d3.addr)))
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("third job: %v, want RESOURCE_EXHAUSTED", err)
	}
	var hint bool
	for _, det := range st.Details() {
		if ri, ok := det.(*errdetails.RetryInfo); ok && ri.GetRetryDelay().AsDuration() > 0 {
			hint = true
		}
	}
	if !hint || !strings.Contains(st.Message(), "retry in") {
		t.Errorf("no retry hint: %v", st.Proto())
	}
	g.open()
	if evs, err := drain[*espprovv1.ProvisionResponse](s1); err != nil || !evs[len(evs)-1].GetResult().GetSuccess() {
		t.Fatalf("first job: %v", err)
	}
	evs, err := drain[*espprovv1.ProvisionResponse](s2)
	if err != nil || !evs[len(evs)-1].GetResult().GetSuccess() {
		t.Fatalf("queued job: %v", err)
	}
	if q.GetJobId() == "" || q.GetJobId() != evs[0].GetJobId() {
		t.Errorf("queued job events: %v %v", q, evs[0])
	}
	if got := queue.last("httpd"); got != 0 {
		t.Errorf("queue depth after the queued job ran: %d, want 0", got)
	}
	// Bad input: INVALID_ARGUMENT, nothing recorded.
	bad := provisionReq(d3.addr)
	bad.Wifi.Ssid = ""
	bad.RequestId = "bad-1"
	_, err = drain[*espprovv1.ProvisionResponse](mustProvision(t, h, ctx, bad))
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad request: %v", err)
	}
	bad = provisionReq(d3.addr)
	bad.Labels = map[string]string{"": "x"}
	if _, err = drain[*espprovv1.ProvisionResponse](mustProvision(t, h, ctx, bad)); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad label: %v", err)
	}
	list, err := h.client.ListJobs(ctx, &espprovv1.ListJobsRequest{})
	if err != nil || len(list.GetJobs()) != 2 {
		t.Fatalf("ListJobs: %v %v, want the 2 jobs that ran", list, err)
	}
}

func mustProvision(t *testing.T, h *harness, ctx context.Context, req *espprovv1.ProvisionRequest) espprovv1.ProvisioningService_ProvisionClient {
	t.Helper()
	s, err := h.client.Provision(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCancelJob: a job cancelled before the device applied its
// configuration stops at the next step boundary and is recorded
// cancelled; the device takes a new job afterwards. A queued job is
// cancelled at once.
func TestCancelJob(t *testing.T) {
	h := start(t, sqliteKind(t.TempDir()), options{limits: map[espprovv1.Transport]jobs.Limit{espprovv1.Transport_TRANSPORT_HTTPD: {Concurrent: 1, Waiting: 4}}})
	var g *gate
	d := startDevice(t, device.Config{}, func(p device.Protocomm) device.Protocomm { g = newGate(p, "prov-config"); return g })
	other := startDevice(t, device.Config{}, nil)
	ctx := testCtx(t)
	s1 := mustProvision(t, h, ctx, provisionReq(d.addr))
	first, err := s1.Recv()
	if err != nil {
		t.Fatal(err)
	}
	<-g.reached
	s2 := mustProvision(t, h, ctx, provisionReq(other.addr))
	if q, err := s2.Recv(); err != nil || q.GetStep() != espprovv1.Step_STEP_QUEUED || q.GetJobState() != espprovv1.JobState_JOB_STATE_QUEUED {
		t.Fatalf("second job's first event: %v %v, want STEP_QUEUED", q, err)
	}
	// A queued job is cancelled at once, before its device is contacted.
	third := startDevice(t, device.Config{}, nil)
	s3 := mustProvision(t, h, ctx, provisionReq(third.addr))
	q3, err := s3.Recv()
	if err != nil {
		t.Fatal(err)
	}
	// Over REST: POST /v1/jobs/{jobId}:cancel.
	resp, err := http.Post("http://"+h.srv.HTTPAddr()+"/v1/jobs/"+q3.GetJobId()+":cancel", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var cj map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&cj); err != nil || resp.StatusCode != 200 || cj["cancelRequested"] != true {
		t.Fatalf("POST :cancel: %s %v %v", resp.Status, cj, err)
	}
	resp.Body.Close()
	if evs, err := drain[*espprovv1.ProvisionResponse](s3); status.Code(err) != codes.Canceled || evs[len(evs)-1].GetJobState() != espprovv1.JobState_JOB_STATE_CANCELLED {
		t.Fatalf("cancelled queued job: %v", err)
	}
	if st := third.dev.Stats(); st.SessionsOpened != 0 || len(st.Exchanges) != 0 {
		t.Errorf("the cancelled queued job contacted its device: %+v", st)
	}
	j, err := h.client.CancelJob(ctx, &espprovv1.CancelJobRequest{JobId: first.GetJobId()})
	if err != nil || !j.GetCancelRequested() {
		t.Fatalf("CancelJob: %v %v", j, err)
	}
	g.open()
	evs, err := drain[*espprovv1.ProvisionResponse](s1)
	if status.Code(err) != codes.Canceled {
		t.Fatalf("cancelled job's Provision: %v (steps %v)", err, stepsOf(evs))
	}
	j, err = h.client.GetJob(ctx, &espprovv1.GetJobRequest{JobId: first.GetJobId()})
	if err != nil || j.GetState() != espprovv1.JobState_JOB_STATE_CANCELLED || j.GetLastConfirmedStep() != espprovv1.Step_STEP_CREDENTIALS_SENT {
		t.Fatalf("cancelled job: %v %v", j, err)
	}
	if st := d.dev.Stats(); st.Exchanges["prov-config"] != 1 {
		t.Errorf("device saw %d prov-config exchanges after the cancel, want 1 (SetConfig only)", st.Exchanges["prov-config"])
	}
	if evs, err := drain[*espprovv1.ProvisionResponse](s2); err != nil || !evs[len(evs)-1].GetResult().GetSuccess() {
		t.Fatalf("the other job: %v", err)
	}
	// The device takes a new job.
	evs, err = drain[*espprovv1.ProvisionResponse](mustProvision(t, h, ctx, provisionReq(d.addr)))
	if err != nil || !evs[len(evs)-1].GetResult().GetSuccess() {
		t.Fatalf("job after the cancel: %v", err)
	}
	if _, err := h.client.CancelJob(ctx, &espprovv1.CancelJobRequest{JobId: "job-nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("cancel unknown job: %v", err)
	}
}

// TestListAndExport: filters, newest first, pages; CSV and NDJSON export
// over REST.
func TestListAndExport(t *testing.T) {
	h := start(t, sqliteKind(t.TempDir()), options{})
	ctx := testCtx(t)
	var ids []string
	for i := range 5 {
		d := startDevice(t, device.Config{}, nil)
		req := provisionReq(d.addr)
		req.SerialNumber = fmt.Sprintf("SN-%d", i)
		req.WorkOrder = "WO-A"
		if i%2 == 1 {
			req.WorkOrder = "WO-B"
		}
		req.Labels = map[string]string{"formula": "=1+2"}
		evs, err := drain[*espprovv1.ProvisionResponse](mustProvision(t, h, ctx, req))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, evs[0].GetJobId())
	}
	var got []string
	tok := ""
	for {
		page, err := h.client.ListJobs(ctx, &espprovv1.ListJobsRequest{WorkOrder: "WO-A", PageSize: 2, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range page.GetJobs() {
			got = append(got, j.GetJobId())
		}
		if tok = page.GetNextPageToken(); tok == "" {
			break
		}
	}
	if want := []string{ids[4], ids[2], ids[0]}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("WO-A jobs %v, want newest first %v", got, want)
	}
	if _, err := h.client.ListJobs(ctx, &espprovv1.ListJobsRequest{PageToken: "garbage"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("bad page token: %v", err)
	}
	base := "http://" + h.srv.HTTPAddr()
	var lj struct {
		Jobs []struct{ JobId, SerialNumber string }
	}
	getJSON(t, base+"/v1/jobs?workOrder=WO-B&states=JOB_STATE_SUCCEEDED", &lj)
	if len(lj.Jobs) != 2 || lj.Jobs[0].SerialNumber != "SN-3" {
		t.Errorf("GET /v1/jobs?workOrder=WO-B: %+v", lj)
	}
	resp, err := http.Get(base + "/v1/jobs:export?format=csv&workOrder=WO-A")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("export: %s %s %s", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v\n%s", err, body)
	}
	if len(recs) != 4 || strings.Join(recs[0], ",") != strings.Join(jobs.CSVHeader, ",") {
		t.Fatalf("export: %d records: %q", len(recs), recs)
	}
	col := map[string]int{}
	for i, c := range recs[0] {
		col[c] = i
	}
	if recs[1][col["job_id"]] != ids[4] || recs[1][col["state"]] != "SUCCEEDED" || recs[1][col["serial_number"]] != "SN-4" ||
		recs[1][col["ip4_address"]] == "" || recs[1][col["labels"]] != "formula==1+2" {
		t.Errorf("first row %q", recs[1])
	}
	lines := getLines(t, base+"/v1/jobs:export?format=ndjson&serialNumber=SN-1")
	if len(lines) != 1 || !strings.Contains(lines[0], `"jobId":"`+ids[1]+`"`) {
		t.Errorf("NDJSON export: %q", lines)
	}
	if resp, err := http.Get(base + "/v1/jobs:export?format=xml"); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("export format xml: %v %v", resp, err)
	} else {
		resp.Body.Close() // an unread, unclosed body keeps the connection (and two goroutines) alive
	}
}

// queueRecorder is a QueueObserver keeping the last depth per transport.
type queueRecorder struct {
	mu    sync.Mutex
	depth map[string]int
}

func (q *queueRecorder) QueueDepth(transport string, depth int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.depth == nil {
		q.depth = map[string]int{}
	}
	q.depth[transport] = depth
}

func (q *queueRecorder) last(transport string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.depth[transport]
}
