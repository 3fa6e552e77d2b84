package console

import (
	"testing"

	"go.bug.st/serial/enumerator"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		vid, pid string
		likely   bool
		bridge   string
	}{
		{"303A", "1001", true, "Espressif USB"},
		{"303a", "0002", true, "Espressif USB"},
		{"0x303a", "4001", true, "Espressif USB"},
		{"10C4", "EA60", true, "CP210x"},
		{"10c4", "ea60", true, "CP210x"},
		{"1A86", "7523", true, "CH340"},
		{"1A86", "55D4", true, "CH9102"},
		{"1a86", "55d3", true, "CH343"},
		{"0403", "6001", true, "FTDI FT232R"},
		{"403", "6010", true, "FTDI FT2232"},
		{"0403", "6014", true, "FTDI FT232H"},
		{"0403", "6015", true, "FTDI FT-X"},
		{"0403", "6011", false, ""},
		{"10C4", "EA70", false, ""},
		{"2341", "0043", false, ""}, // Arduino Uno
		{"1D6B", "0002", false, ""},
		{"", "", false, ""},
		{"", "EA60", false, ""},
	}
	for _, tc := range tests {
		likely, bridge := Classify(tc.vid, tc.pid)
		if likely != tc.likely || bridge != tc.bridge {
			t.Errorf("Classify(%q, %q) = %v, %q; want %v, %q", tc.vid, tc.pid, likely, bridge, tc.likely, tc.bridge)
		}
	}
}

func TestMergePorts(t *testing.T) {
	names := []string{"/dev/ttyS0", "/dev/ttyUSB0", "/dev/ttyACM0", "/dev/ttyUSB1"}
	details := []*enumerator.PortDetails{
		{}, // what the enumerator returns for a port without sysfs details
		{Name: "/dev/ttyUSB0", IsUSB: true, VID: "10c4", PID: "ea60", SerialNumber: "0001", Product: "CP2102N USB to UART Bridge Controller"},
		{Name: "/dev/ttyACM0", IsUSB: true, VID: "303a", PID: "1001", SerialNumber: "F4:12:FA:00:11:22", Product: "USB JTAG/serial debug unit"},
		{Name: "/dev/ttyUSB1", IsUSB: true, VID: "0403", PID: "6011", SerialNumber: "FT1"},
		{Name: "/dev/ttyUSB9", IsUSB: true, VID: "1a86", PID: "7523"}, // appeared between the two listings
	}
	got := mergePorts(names, details)
	want := []Port{
		{Name: "/dev/ttyACM0", IsUSB: true, VID: "303A", PID: "1001", SerialNumber: "F4:12:FA:00:11:22", Product: "USB JTAG/serial debug unit", LikelyESP: true, Bridge: "Espressif USB"},
		{Name: "/dev/ttyUSB0", IsUSB: true, VID: "10C4", PID: "EA60", SerialNumber: "0001", Product: "CP2102N USB to UART Bridge Controller", LikelyESP: true, Bridge: "CP210x"},
		{Name: "/dev/ttyUSB9", IsUSB: true, VID: "1A86", PID: "7523", LikelyESP: true, Bridge: "CH340"},
		{Name: "/dev/ttyS0"},
		{Name: "/dev/ttyUSB1", IsUSB: true, VID: "0403", PID: "6011", SerialNumber: "FT1"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d ports: %+v", len(got), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("port %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// ListPorts runs against this machine's real /dev and sysfs.
func TestListPorts(t *testing.T) {
	ports, err := ListPorts()
	if err != nil {
		t.Fatalf("ListPorts: %v", err)
	}
	for _, p := range ports {
		if p.Name == "" {
			t.Errorf("port without name: %+v", p)
		}
		if p.LikelyESP && !p.IsUSB {
			t.Errorf("non-USB port marked as ESP: %+v", p)
		}
	}
	t.Logf("%d ports: %+v", len(ports), ports)
}
