package simconsole

import (
	"io"
	"os"
	"testing"

	"github.com/espprov/espprov/internal/sim/device"
)

// FuzzCommand feeds arbitrary command lines (endpoint, session id, hex) to
// the simulated protocomm_console. It must never panic, and its output
// goes to the console.
func FuzzCommand(f *testing.F) {
	for _, s := range []string{"proto-ver 1 2d2d2d", "prov-session 4294967295 10015a00", "help", "", "prov-config -12 zz",
		"prov-session +99999999999 00", "a b c d e f g h i j", "proto-ver 1 2d2d2d trailing"} {
		f.Add(s, false)
	}
	f.Add("x", true)
	d, err := device.New(device.Config{SecVer: 1})
	if err != nil {
		f.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		f.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	go func() { _, _ = io.Copy(io.Discard, r) }()
	c := &Console{dev: d, noise: true, lineMax: DefaultLineMax, master: w, done: make(chan struct{})}
	f.Fuzz(func(t *testing.T, line string, overflow bool) {
		before := c.Stats()
		if err := c.command(line, overflow); err != nil {
			t.Fatal(err)
		}
		after := c.Stats()
		if after.Lines != before.Lines+1 {
			t.Fatalf("line not counted: %+v → %+v", before, after)
		}
	})
}
