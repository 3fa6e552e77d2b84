//go:build bluezvm

package bluez

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/sim/device"
	"github.com/espprov/espprov/internal/sim/peripheral"
)

func adapterAddress(t *testing.T, id string) string {
	t.Helper()
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	v, err := conn.Object("org.bluez", dbus.ObjectPath("/org/bluez/"+id)).GetProperty("org.bluez.Adapter1.Address")
	if err != nil {
		t.Fatal(err)
	}
	return v.Value().(string)
}

// espprovd --ble-adapters hci0,hci2 provisions two devices at once, one on
// each adapter, for requests that name no adapter.
func TestTwoAdaptersAtOnce(t *testing.T) {
	cl := espprovd(t, "--ble-adapters", central+","+central2)
	cfg := device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: srpUser, SRPPassword: srpPass}
	devs := []*simDevice{
		// Either central may take either device.
		startDevice(t, device1, cfg, peripheral.Config{ReadvertiseFor: strings.Split(readvertiseFor, ",")}),
		startDevice(t, device2, cfg, peripheral.Config{ReadvertiseFor: strings.Split(readvertiseFor, ",")}),
	}
	sec := &espprovv1.Security{Sec2Username: srpUser, Sec2Password: srpPass}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	type span struct{ start, end time.Time }
	spans := make([]span, len(devs))
	errs := make([]error, len(devs))
	var wg sync.WaitGroup
	for i, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			evs, err := provision(ctx, cl, provisionReq(bleDevice(d.name, ""), sec))
			if err == nil && !succeeded(evs) {
				err = context.Canceled
			}
			errs[i] = err
			if len(evs) > 0 {
				spans[i] = span{evs[0].GetTime().AsTime(), evs[len(evs)-1].GetTime().AsTime()}
			}
			_ = t0
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("device %s: %v", devs[i].name, err)
		}
	}
	want := map[string]bool{strings.ToUpper(adapterAddress(t, central)): true, strings.ToUpper(adapterAddress(t, central2)): true}
	used := map[string]bool{}
	for _, d := range devs {
		c := d.p.Centrals()
		if len(c) != 1 {
			t.Fatalf("%s saw centrals %v, want one", d.name, c)
		}
		if !want[c[0]] {
			t.Fatalf("%s was provisioned from %s, not from %v", d.name, c[0], want)
		}
		used[c[0]] = true
	}
	if len(used) != 2 {
		t.Fatalf("both devices provisioned through %v: want one adapter each", used)
	}
	if !(spans[0].start.Before(spans[1].end) && spans[1].start.Before(spans[0].end)) {
		t.Errorf("the provisionings did not overlap: %v", spans)
	}
	metric(t, "two adapters: %s %v, %s %v (overlapping)", devs[0].name, spans[0].end.Sub(spans[0].start).Round(time.Millisecond),
		devs[1].name, spans[1].end.Sub(spans[1].start).Round(time.Millisecond))
}
