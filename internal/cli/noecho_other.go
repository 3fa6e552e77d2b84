//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package cli

import "errors"

// echoOff is not available here: the hidden prompt falls back to
// term.ReadPassword turning echo off after the prompt.
func echoOff(int) (func() error, error) { return nil, errors.ErrUnsupported }
