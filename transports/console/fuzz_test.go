package console

import "testing"

// FuzzParser feeds arbitrary device output (log lines, escape sequences,
// stale prompts, partial lines) to the console reply parser, whole and in
// pieces of size k. It must never panic, the result must not depend on
// how the output was split, and a reply must come from a hex line.
func FuzzParser(f *testing.F) {
	const cmd = "prov-session 42 0a0b"
	for _, s := range []string{
		cmd + "\r\n\r\r\n0a0b0c\r\r\n\n>> ",
		cmd + "\r\n\n>> ",
		"\r\r\nffff\r\r\n\n>> " + cmd + "\r\n\r\r\n0102\r\r\n\n>> ",
		cmd + "\r\n\x1b[0;32mI (1234) wifi:sta start\x1b[0m\r\n\r\r\n0a\r\r\n\n>> ",
		cmd + "\r\n\r\r\n\r\r\n\n>> ",
		"\x1b[" + cmd + "\r\n\x1b\x1b[\n>>",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, out []byte, k uint8) {
		run := func(size int) (bool, []byte) {
			p := parser{command: []byte(cmd)}
			in := out
			for len(in) > 0 {
				n := min(size, len(in))
				if p.feed(in[:n]) {
					return true, p.reply
				}
				in = in[n:]
			}
			return false, nil
		}
		done, reply := run(len(out) + 1)
		if reply != nil && !done {
			t.Fatal("reply without the prompt")
		}
		if done && len(reply) > len(out)/2 {
			t.Fatalf("reply of %d bytes from %d bytes of output", len(reply), len(out))
		}
		if k == 0 {
			return
		}
		done2, _ := run(int(k))
		// Split output may finish earlier (a prompt ends a piece), never later.
		if done && !done2 {
			t.Fatalf("whole output finished, split in %d-byte pieces did not", k)
		}
	})
}
