//go:build bluezvm

package bluez

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/protocomm"
	"github.com/espprov/espprov/internal/sim/device"
	"github.com/espprov/espprov/internal/sim/peripheral"
	"github.com/espprov/espprov/services/provisioning"
)

type managed = map[dbus.ObjectPath]map[string]map[string]dbus.Variant

func objects(ctx context.Context, conn *dbus.Conn) (managed, error) {
	var objs managed
	err := conn.Object("org.bluez", "/").CallWithContext(ctx, "org.freedesktop.DBus.ObjectManager.GetManagedObjects", 0).Store(&objs)
	return objs, err
}

// waitObjects polls BlueZ's object tree until pick finds what it wants.
func waitObjects[T comparable](ctx context.Context, conn *dbus.Conn, what string, pick func(managed) T) (T, error) {
	var zero T
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		objs, err := objects(ctx, conn)
		if err == nil {
			if v := pick(objs); v != zero {
				return v, nil
			}
		}
		select {
		case <-ctx.Done():
			return zero, fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// rawTimes are a bare central's timings on BlueZ's D-Bus API: what every
// client pays, whatever it does on top.
type rawTimes struct {
	connect, resolve, writeRead time.Duration
}

// rawCentral connects to name from adapter with plain D-Bus calls and times
// Connect, service resolution and n write+read round trips on proto-ver.
func rawCentral(ctx context.Context, conn *dbus.Conn, adapter, name string, protoVerUUID string, n int) (rawTimes, error) {
	var rt rawTimes
	ad := conn.Object("org.bluez", dbus.ObjectPath("/org/bluez/"+adapter))
	filter := map[string]dbus.Variant{"Transport": dbus.MakeVariant("le")}
	if err := ad.CallWithContext(ctx, "org.bluez.Adapter1.SetDiscoveryFilter", 0, filter).Err; err != nil {
		return rt, err
	}
	if err := ad.CallWithContext(ctx, "org.bluez.Adapter1.StartDiscovery", 0).Err; err != nil {
		return rt, err
	}
	prefix := "/org/bluez/" + adapter + "/"
	devPath, err := waitObjects(ctx, conn, name, func(objs managed) dbus.ObjectPath {
		for p, ifaces := range objs {
			if d, ok := ifaces["org.bluez.Device1"]; ok && strings.HasPrefix(string(p), prefix) {
				if n, _ := d["Name"].Value().(string); n == name {
					return p
				}
			}
		}
		return ""
	})
	_ = ad.CallWithContext(ctx, "org.bluez.Adapter1.StopDiscovery", 0).Err
	if err != nil {
		return rt, err
	}
	dev := conn.Object("org.bluez", devPath)
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = dev.CallWithContext(cctx, "org.bluez.Device1.Disconnect", 0).Err
		_ = ad.CallWithContext(cctx, "org.bluez.Adapter1.RemoveDevice", 0, devPath).Err
	}()
	t0 := time.Now()
	if err := dev.CallWithContext(ctx, "org.bluez.Device1.Connect", 0).Err; err != nil {
		return rt, fmt.Errorf("connect: %w", err)
	}
	rt.connect = time.Since(t0)
	char, err := waitObjects(ctx, conn, "services resolved", func(objs managed) dbus.ObjectPath {
		if r, _ := objs[devPath]["org.bluez.Device1"]["ServicesResolved"].Value().(bool); !r {
			return ""
		}
		for p, ifaces := range objs {
			if c, ok := ifaces["org.bluez.GattCharacteristic1"]; ok && strings.HasPrefix(string(p), string(devPath)+"/") {
				if u, _ := c["UUID"].Value().(string); strings.EqualFold(u, protoVerUUID) {
					return p
				}
			}
		}
		return ""
	})
	if err != nil {
		return rt, err
	}
	rt.resolve = time.Since(t0) - rt.connect
	ch := conn.Object("org.bluez", char)
	var rws []time.Duration
	for range n {
		t1 := time.Now()
		err := ch.CallWithContext(ctx, "org.bluez.GattCharacteristic1.WriteValue", 0, []byte("---"),
			map[string]dbus.Variant{"type": dbus.MakeVariant("request")}).Err
		if err != nil {
			return rt, fmt.Errorf("write: %w", err)
		}
		var v []byte
		if err := ch.CallWithContext(ctx, "org.bluez.GattCharacteristic1.ReadValue", 0, map[string]dbus.Variant{}).Store(&v); err != nil {
			return rt, fmt.Errorf("read: %w", err)
		}
		if !strings.Contains(string(v), "prov") {
			return rt, fmt.Errorf("proto-ver answered %q", v)
		}
		rws = append(rws, time.Since(t1))
	}
	slices.Sort(rws)
	rt.writeRead = rws[len(rws)/2]
	return rt, nil
}

// GATT operations per provisioning for each scheme, at the protocol
// minimum, and the time of connect, service resolution and provisioning as
// ratios against the raw write+read time of the same run.
func TestGATTCost(t *testing.T) {
	pr := usePair(t)
	cl := espprovd(t)
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// The bare central first: the unit of this run.
	ref := startDevice(t, pr.device, device.Config{SecVer: 0}, peripheral.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	raw, err := rawCentral(ctx, conn, pr.central, ref.name, ref.p.CharacteristicUUIDs()["proto-ver"], 7)
	if err != nil {
		t.Fatalf("raw central: %v", err)
	}
	if err := ref.p.Close(); err != nil {
		t.Fatal(err)
	}
	unit := raw.writeRead
	metric(t, "raw central (plain D-Bus): connect %v, service resolution %v, write+read %v (= 1 unit)",
		raw.connect.Round(time.Millisecond), raw.resolve.Round(time.Millisecond), unit.Round(time.Millisecond))
	metric(t, "raw central in units: connect %.1f, service resolution %.1f", ratio(raw.connect, unit), ratio(raw.resolve, unit))

	tests := []struct {
		name string
		cfg  device.Config
		sec  *espprovv1.Security
		// want: protocomm exchanges per endpoint, the protocol minimum
		// (proto-ver once, the handshake, SetConfig, ApplyConfig, then
		// GetStatus until Connected).
		session int
		scheme  protocomm.Scheme
	}{
		{"sec0", device.Config{SecVer: 0}, nil, 1, protocomm.Scheme0},
		{"sec1", device.Config{SecVer: 1, PoP: pop}, &espprovv1.Security{Pop: pop}, 2, protocomm.Scheme1},
		{"sec2", device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: srpUser, SRPPassword: srpPass},
			&espprovv1.Security{Sec2Username: srpUser, Sec2Password: srpPass}, 2, protocomm.Scheme2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := startDevice(t, pr.device, tc.cfg, peripheral.Config{})
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			defer cancel()
			t0 := time.Now()
			evs, err := provision(ctx, cl, provisionReq(bleDevice(d.name, pr.central), tc.sec))
			total := time.Since(t0)
			if err != nil || !succeeded(evs) {
				t.Fatalf("Provision: %v (%d events)", err, len(evs))
			}
			st := d.p.Stats()
			ex := d.pc.snapshot()
			steps := stepTimes(t0, evs)
			// A device answers Connected to the first GetStatus after its
			// connect delay; the polls before that are the Wi-Fi wait.
			polls := ex["prov-config"] - 2
			metric(t, "%s: exchanges %v (GetStatus polls %d); GATT: %d writes (%d long), %d reads (%d Read Blob), %d descriptor reads, MTU %d",
				tc.name, ex, polls, st.Writes, st.LongWrites, st.Reads, st.BlobReads, st.DescReads, st.MTU)
			var order []string
			for _, ev := range evs {
				order = append(order, fmt.Sprintf("%s@%.1f", strings.TrimPrefix(ev.GetStep().String(), "STEP_"), ratio(ev.GetTime().AsTime().Sub(t0), unit)))
			}
			metric(t, "%s events in units: %s", tc.name, strings.Join(order, " "))
			dial := steps[espprovv1.Step_STEP_SECURITY_DETECTED]
			sess := steps[espprovv1.Step_STEP_SESSION_ESTABLISHED] - dial
			metric(t, "%s in units: find+connect+resolve+map+proto-ver %.1f, session %.1f, whole provisioning %.1f (%v)",
				tc.name, ratio(dial, unit), ratio(sess, unit), ratio(total, unit), total.Round(time.Millisecond))

			if ex["proto-ver"] != 1 || ex["prov-session"] != tc.session || ex["prov-scan"] != 0 || ex["prov-ctrl"] != 0 {
				t.Errorf("exchanges %v: want proto-ver 1, prov-session %d, no scan or ctrl", ex, tc.session)
			}
			if polls < 1 {
				t.Errorf("prov-config exchanges %d: want SetConfig, ApplyConfig and at least one GetStatus", ex["prov-config"])
			}
			exchanges := 0
			for _, n := range ex {
				exchanges += n
			}
			// The protocol minimum, with one GetStatus (the simulated device
			// joins within 50 ms, before the first poll answers).
			if min := provisioning.MinExchanges(tc.scheme) + polls - 1; exchanges != min {
				t.Errorf("%d exchanges, want the protocol minimum %d (%d polls)", exchanges, min, polls)
			}
			// One write and one read per exchange (plus Read Blobs for long
			// values), one read per endpoint name.
			if st.Writes != exchanges || st.Reads-st.BlobReads != exchanges {
				t.Errorf("%d exchanges took %d writes and %d reads (%d Read Blob): want one write and one read each", exchanges, st.Writes, st.Reads, st.BlobReads)
			}
			if st.DescReads != len(d.dev.Endpoints()) {
				t.Errorf("%d descriptor reads for %d endpoints", st.DescReads, len(d.dev.Endpoints()))
			}
			if tc.name == "sec2" {
				// Cmd0 (~406 bytes) and Resp0 (~416) exceed MTU−3.
				if st.MTU >= 406 || st.LongWrites == 0 || st.BlobReads == 0 {
					t.Errorf("Security 2 at MTU %d: %d long writes, %d Read Blobs; want both > 0 with MTU < 406", st.MTU, st.LongWrites, st.BlobReads)
				}
			}
		})
	}
}

func ratio(d, unit time.Duration) float64 { return float64(d) / float64(unit) }
