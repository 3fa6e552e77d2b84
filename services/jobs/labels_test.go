package jobs_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/sim/device"
)

// TestUpdateJobLabelsAcrossInstances: on both stores, a job running on
// one instance cannot be labelled through another (FAILED_PRECONDITION
// naming the instance: its runner would overwrite the labels), can be
// through its own, and keeps the labels through its end; once it has ended
// any instance labels it.
func TestUpdateJobLabelsAcrossInstances(t *testing.T) {
	stores(t, func(t *testing.T, k storeKind) {
		a := start(t, k, options{})
		var g *gate
		d := startDevice(t, device.Config{}, func(p device.Protocomm) device.Protocomm { g = newGate(p, "prov-config"); return g })
		ctx := testCtx(t)
		s := mustProvision(t, a, ctx, provisionReq(d.addr))
		first, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		id := first.GetJobId()
		<-g.reached
		set := func(h *harness, kv ...string) (*espprovv1.Job, error) {
			m := map[string]string{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i]] = kv[i+1]
			}
			return h.client.UpdateJobLabels(ctx, &espprovv1.UpdateJobLabelsRequest{JobId: id, Labels: m})
		}
		var b *harness
		if k.name == "postgres" {
			b = start(t, k, options{})
			if _, err := set(b, "set_aside", "true"); status.Code(err) != codes.FailedPrecondition {
				t.Errorf("label a job running on another instance: %v", err)
			}
		}
		if j, err := set(a, "set_aside", "true"); err != nil || j.GetLabels()["set_aside"] != "true" {
			t.Fatalf("label the running job: %v %v", j, err)
		}
		g.open()
		if evs, err := drain[*espprovv1.ProvisionResponse](s); err != nil || !evs[len(evs)-1].GetResult().GetSuccess() {
			t.Fatalf("job: %v", err)
		}
		j, err := a.client.GetJob(ctx, &espprovv1.GetJobRequest{JobId: id})
		if err != nil || j.GetLabels()["set_aside"] != "true" {
			t.Fatalf("labels after the end: %v %v", j.GetLabels(), err)
		}
		if b != nil {
			if j, err := set(b, "set_aside", "", "reason", "ok after all"); err != nil || len(j.GetLabels()) != 1 || j.GetLabels()["reason"] != "ok after all" {
				t.Errorf("label the ended job through the other instance: %v %v", j.GetLabels(), err)
			}
		}
	})
}
