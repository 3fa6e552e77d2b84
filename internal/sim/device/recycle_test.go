package device

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// TestRecycle: a recycled device is back in factory state for a new
// session once it was provisioned (even after the auto-stop), keeps its
// counters, and a device without Recycle stays stopped.
func TestRecycle(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	for _, recycle := range []bool{true, false} {
		d := mustNew(t, Config{ConnectDelay: time.Millisecond, CleanupDelay: time.Millisecond, StationIP: "192.168.1.23",
			APs: []AP{myAP}, Now: clock, Recycle: recycle})
		provision := func(sess string) error {
			for _, s := range []struct{ req, want string }{{reqSetMyssid, respSetOK}, {reqApply, respApplyOK}} {
				got, err := d.Handle(sess, EndpointConfig, unhex(t, s.req))
				if err != nil {
					return err
				}
				if !bytes.Equal(got, unhex(t, s.want)) {
					t.Fatalf("%s: got %x", s.req, got)
				}
			}
			now = now.Add(time.Millisecond)
			got, err := d.Handle(sess, EndpointConfig, unhex(t, reqGetStatus))
			if err == nil && !bytes.Equal(got, unhex(t, respConnected)) {
				t.Fatalf("status %x", got)
			}
			now = now.Add(time.Second) // past the auto-stop
			return err
		}
		if err := provision("a"); err != nil {
			t.Fatal(err)
		}
		err := provision("b")
		switch {
		case recycle && err != nil:
			t.Fatalf("recycled device refused a second provisioning: %v", err)
		case !recycle && !errors.Is(err, ErrStopped):
			t.Fatalf("device without Recycle: %v, want ErrStopped", err)
		}
		if recycle {
			if n := d.Stats().Exchanges[EndpointConfig]; n != 6 {
				t.Fatalf("counters after recycling: %d prov-config exchanges, want 6", n)
			}
			// The same session does not recycle: applying again is refused.
			got, err := d.Handle("b", EndpointConfig, unhex(t, reqSetMyssid))
			if err == nil {
				if got, err = d.Handle("b", EndpointConfig, unhex(t, reqApply)); err == nil && !bytes.Equal(got, unhex(t, respApplyErr)) {
					t.Fatalf("second apply in one session: %x", got)
				}
			}
		}
	}
}
