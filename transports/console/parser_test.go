package console

import (
	"bytes"
	"testing"
)

// Device output variants, fed in every split (whole, byte by byte, and in
// 3-byte pieces), must give the same result.
func TestParser(t *testing.T) {
	const cmd = "prov-session 42 0a0b"
	tests := []struct {
		name  string
		out   string
		done  bool
		reply []byte // nil: no reply
	}{
		{"firmware CRLF translation", cmd + "\r\n\r\r\n0a0b0c\r\r\n\n>> ", true, []byte{10, 11, 12}},
		{"no CRLF translation", cmd + "\r\n\r\n0A0B0C\r\n\n>> ", true, []byte{10, 11, 12}},
		{"failure", cmd + "\r\n\n>> ", true, nil},
		{"empty reply", cmd + "\r\n\r\r\n\r\r\n\n>> ", true, []byte{}},
		{"empty reply without translation", cmd + "\r\n\r\n\r\n\n>> ", true, []byte{}},
		{"no prompt yet", cmd + "\r\n\r\r\n0a0b0c\r\r\n", false, nil},
		{"prompt before echo is stale", "\n>> ", false, nil},
		{"stale prompt and late reply before echo",
			"\r\r\nffff\r\r\n\n>> " + cmd + "\r\n\r\r\n0102\r\r\n\n>> ", true, []byte{1, 2}},
		{"stale prompt prefixes the echo", "\n>> " + cmd + "\r\n\r\r\n01\r\r\n\n>> ", true, []byte{1}},
		{"coloured log lines around the reply",
			cmd + "\r\n\x1b[0;32mI (1234) wifi:sta start\x1b[0m\r\n\r\r\n0a\r\r\n\x1b[0;33mW (1240) wifi: x\x1b[0m\r\n\n>> ",
			true, []byte{10}},
		{"log lines that look almost hex", cmd + "\r\nI (12) x: abcd\r\nabc\r\ndeadbeef\r\n\n>> ", true, []byte{0xde, 0xad, 0xbe, 0xef}},
		{"log after the prompt", cmd + "\r\n\r\r\n0a\r\r\n\n>> \x1b[0;32mI (5) wifi: y\x1b[0m\r\n", true, []byte{10}},
		{"log after the prompt on failure", cmd + "\r\n\n>> I (5) wifi: y\r\n", true, nil},
		{"colour-wrapped prompt", cmd + "\r\n\r\r\n0a\r\r\n\n\x1b[0m>> ", true, []byte{10}},
		{"first hex line wins", cmd + "\r\n0a\r\n0b\r\n\n>> ", true, []byte{10}},
		{"echo of another command does not count", "echo 1 0a0b\r\n\r\r\n01\r\r\n\n>> ", false, nil},
	}
	for _, tc := range tests {
		for _, size := range []int{len(tc.out), 1, 3} {
			p := parser{command: []byte(cmd)}
			done := false
			in := []byte(tc.out)
			for len(in) > 0 && !done {
				n := min(size, len(in))
				done = p.feed(in[:n])
				in = in[n:]
			}
			if done != tc.done {
				t.Errorf("%s/%d: done = %v, want %v", tc.name, size, done, tc.done)
				continue
			}
			if !done {
				continue
			}
			if (tc.reply == nil) != (p.reply == nil) || !bytes.Equal(p.reply, tc.reply) {
				t.Errorf("%s/%d: reply %x (nil %v), want %x", tc.name, size, p.reply, p.reply == nil, tc.reply)
			}
		}
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"\x1b[0;32mI (1) a\x1b[0m": "I (1) a",
		"a\rb\x00c\x7f":            "abc",
		"\x1b[1mx":                 "x",
		"tab\there":                "tab\there",
		"\x1b[":                    "",
		"\x1bcX":                   "X",
	} {
		if got := string(clean([]byte(in))); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}
