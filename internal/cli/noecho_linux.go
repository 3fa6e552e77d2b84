//go:build linux

package cli

import "golang.org/x/sys/unix"

const (
	getTermios      = unix.TCGETS
	setTermios      = unix.TCSETS
	setTermiosFlush = unix.TCSETSF // TCSAFLUSH: discard input not yet read
)
