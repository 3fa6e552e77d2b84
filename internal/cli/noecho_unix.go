//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package cli

import "golang.org/x/sys/unix"

// echoOff turns the terminal's echo off and discards what was typed ahead
// (keystrokes that arrived before this call, already echoed), in one
// tcsetattr(TCSAFLUSH). It returns a function that puts the previous state
// back. Called before a hidden prompt is printed, so that nothing typed
// after the prompt appears can be echoed.
func echoOff(fd int) (restore func() error, err error) {
	t, err := unix.IoctlGetTermios(fd, getTermios)
	if err != nil {
		return nil, err
	}
	old := *t
	t.Lflag &^= unix.ECHO
	t.Lflag |= unix.ICANON | unix.ISIG
	t.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, setTermiosFlush, t); err != nil {
		return nil, err
	}
	return func() error { return unix.IoctlSetTermios(fd, setTermios, &old) }, nil
}
