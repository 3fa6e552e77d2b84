package peripheral

import (
	"bytes"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/espprov/espprov/internal/sim/device"
)

// option builds the value BlueZ passes for one ReadValue/WriteValue option;
// kind picks a well-typed value (BlueZ's) or a mistyped one, which the
// peripheral must ignore.
func option(kind uint8, v uint16) dbus.Variant {
	switch kind % 4 {
	case 0:
		return dbus.MakeVariant(v)
	case 1:
		return dbus.MakeVariant(uint32(v))
	case 2:
		return dbus.MakeVariant("12")
	default:
		return dbus.Variant{}
	}
}

func bluezError(err *dbus.Error) string {
	if err == nil {
		return ""
	}
	return err.Name
}

// FuzzGATT drives the simulated peripheral's characteristic and descriptor
// handlers as BlueZ relays a central's ATT requests: a (reassembled) write of
// arbitrary bytes with arbitrary options, then the Read / Read Blob sequence
// a central issues for the MTU it negotiated (fragments of MTU−1 bytes at
// increasing offsets), and a read at an arbitrary offset of the value and of
// the endpoint-name descriptor. It must never panic, the fragments must
// reassemble the stored reply, and an offset past the end must be refused.
func FuzzGATT(f *testing.F) {
	f.Add(uint8(4), []byte("---"), uint8(0), uint16(0), uint16(23), "request", "/org/bluez/hci0/dev_00_AA_01_00_00_01", uint16(0), uint16(185))
	f.Add(uint8(4), []byte{}, uint8(0), uint16(0), uint16(0), "", "", uint16(40), uint16(0))
	f.Add(uint8(2), []byte{0x08, 0x00, 0x52, 0x02, 0x0a, 0x00}, uint8(0), uint16(0), uint16(517), "request", "/dev_1", uint16(3), uint16(23))
	f.Add(uint8(2), bytes.Repeat([]byte{0x41}, 600), uint8(1), uint16(18), uint16(23), "command", "/x", uint16(65535), uint16(1))
	f.Fuzz(func(t *testing.T, ep uint8, value []byte, optKind uint8, woff, wmtu uint16, typ, dev string, roff, rmtu uint16) {
		pc, err := device.New(device.Config{SecVer: 0})
		if err != nil {
			t.Fatal(err)
		}
		p := &Peripheral{cfg: Config{MaxValueLen: DefaultMaxValueLen, Protocomm: pc}, sessions: map[dbus.ObjectPath]string{}}
		names := pc.Endpoints()
		c := &characteristic{p: p, endpoint: names[int(ep)%len(names)]}
		werr := c.WriteValue(value, map[string]dbus.Variant{
			"device": dbus.MakeVariant(dbus.ObjectPath(dev)),
			"offset": option(optKind, woff),
			"mtu":    option(optKind>>2, wmtu),
			"type":   dbus.MakeVariant(typ),
		})
		switch {
		case typ != "" && typ != "request":
			if bluezError(werr) != "org.bluez.Error.NotSupported" {
				t.Fatalf("write of type %q: %v", typ, werr)
			}
		case optKind%4 == 0 && woff != 0:
			if bluezError(werr) != "org.bluez.Error.InvalidOffset" {
				t.Fatalf("write at offset %d: %v", woff, werr)
			}
		case len(value) > DefaultMaxValueLen:
			if bluezError(werr) != "org.bluez.Error.InvalidValueLength" {
				t.Fatalf("write of %d bytes: %v", len(value), werr)
			}
		}
		c.mu.Lock()
		stored := bytes.Clone(c.value)
		c.mu.Unlock()
		if werr != nil && len(stored) != 0 {
			t.Fatalf("refused write stored %d bytes", len(stored))
		}

		// A central reads MTU−1 bytes at a time (the ATT minimum MTU is 23)
		// until a fragment comes back short.
		chunk := max(int(rmtu), 23) - 1
		var got []byte
		for off := 0; ; {
			v, rerr := c.ReadValue(map[string]dbus.Variant{"offset": dbus.MakeVariant(uint16(off)), "mtu": dbus.MakeVariant(rmtu)})
			if rerr != nil {
				t.Fatalf("read at offset %d of %d bytes: %v", off, len(stored), rerr)
			}
			v = v[:min(len(v), chunk)]
			got = append(got, v...)
			off += len(v)
			if len(v) < chunk || off > 0xffff {
				break
			}
		}
		if !bytes.Equal(got, stored) {
			t.Fatalf("fragments reassemble %q, stored %q", got, stored)
		}

		// An arbitrary Read Blob offset, on the value and on the descriptor.
		for _, tc := range []struct {
			read func(map[string]dbus.Variant) ([]byte, *dbus.Error)
			full []byte
		}{
			{c.ReadValue, stored},
			{(&userDescription{c}).ReadValue, []byte(c.endpoint)},
		} {
			v, rerr := tc.read(map[string]dbus.Variant{"offset": dbus.MakeVariant(roff)})
			if int(roff) > len(tc.full) {
				if bluezError(rerr) != "org.bluez.Error.InvalidOffset" {
					t.Fatalf("read at offset %d of %d bytes: %v", roff, len(tc.full), rerr)
				}
				continue
			}
			if rerr != nil || !bytes.Equal(v, tc.full[roff:]) {
				t.Fatalf("read at offset %d: %q, %v; want %q", roff, v, rerr, tc.full[roff:])
			}
		}
		if derr := (&userDescription{c}).WriteValue(value, nil); derr == nil {
			t.Fatal("descriptor accepted a write")
		}
		if s := p.Stats(); s.Writes > 1 || s.Exchanges > 1 {
			t.Fatalf("stats after one write: %+v", s)
		}
	})
}
