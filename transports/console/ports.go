package console

import (
	"fmt"
	"sort"
	"strings"

	"go.bug.st/serial"
	"go.bug.st/serial/enumerator"
)

// Port describes one serial port found by ListPorts.
type Port struct {
	Name         string // e.g. /dev/ttyUSB0, /dev/ttyACM0, COM3
	IsUSB        bool
	VID          string // upper-case hex, e.g. "303A"; empty if not USB
	PID          string
	SerialNumber string // stable across re-plugging: use it to map fixtures to ports
	Product      string
	// LikelyESP is set for Espressif's own USB (VID 303A: USB-Serial/JTAG,
	// USB-OTG CDC) and the USB-UART bridges common on ESP boards.
	LikelyESP bool
	// Bridge names the recognised chip family ("Espressif USB", "CP210x", ...),
	// empty when not recognised.
	Bridge string
}

type usbID struct{ vid, pid string }

// Known USB-UART bridges found on ESP development boards.
var bridges = map[usbID]string{
	{"10C4", "EA60"}: "CP210x",
	{"1A86", "7523"}: "CH340",
	{"1A86", "55D4"}: "CH9102",
	{"1A86", "55D3"}: "CH343",
	{"0403", "6001"}: "FTDI FT232R",
	{"0403", "6010"}: "FTDI FT2232",
	{"0403", "6014"}: "FTDI FT232H",
	{"0403", "6015"}: "FTDI FT-X",
}

// EspressifVID is Espressif's USB vendor id.
const EspressifVID = "303A"

// Classify tells whether a USB VID/PID pair (hex, any case, optional 0x)
// looks like an ESP board, and names the chip family when known.
func Classify(vid, pid string) (likelyESP bool, bridge string) {
	vid, pid = normID(vid), normID(pid)
	if vid == "" {
		return false, ""
	}
	if vid == EspressifVID {
		return true, "Espressif USB"
	}
	if b, ok := bridges[usbID{vid, pid}]; ok {
		return true, b
	}
	return false, ""
}

func normID(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "0X")
	if s != "" && len(s) < 4 {
		s = strings.Repeat("0", 4-len(s)) + s
	}
	return s
}

// ListPorts lists the serial ports of this machine with their USB details,
// ESP-looking ports first, then by name.
func ListPorts() ([]Port, error) {
	names, err := serial.GetPortsList()
	if err != nil {
		return nil, fmt.Errorf("console: list serial ports: %w", err)
	}
	details, err := enumerator.GetDetailedPortsList()
	if err != nil {
		return nil, fmt.Errorf("console: list serial ports: %w", err)
	}
	return mergePorts(names, details), nil
}

// mergePorts combines the plain port list with the detailed one (which
// leaves Name empty for ports without sysfs details).
func mergePorts(names []string, details []*enumerator.PortDetails) []Port {
	byName := make(map[string]*enumerator.PortDetails, len(details))
	for _, d := range details {
		if d != nil && d.Name != "" {
			byName[d.Name] = d
		}
	}
	seen := make(map[string]bool, len(names))
	var out []Port
	add := func(name string, d *enumerator.PortDetails) {
		if name == "" || seen[name] {
			return
		}
		seen[name] = true
		p := Port{Name: name}
		if d != nil {
			p.IsUSB = d.IsUSB
			p.VID = normID(d.VID)
			p.PID = normID(d.PID)
			p.SerialNumber = d.SerialNumber
			p.Product = d.Product
			if p.IsUSB {
				p.LikelyESP, p.Bridge = Classify(p.VID, p.PID)
			}
		}
		out = append(out, p)
	}
	for _, n := range names {
		add(n, byName[n])
	}
	for _, d := range details {
		if d != nil {
			add(d.Name, d)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].LikelyESP != out[j].LikelyESP {
			return out[i].LikelyESP
		}
		return out[i].Name < out[j].Name
	})
	return out
}
