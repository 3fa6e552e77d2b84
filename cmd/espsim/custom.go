package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/espprov/espprov/internal/sim/device"
)

// customReplyPrefix is shown in --help; device.EchoHandler builds it.
const customReplyPrefix = device.EchoReplyPrefix + "NAME:"

// customFlag collects repeatable --custom-endpoint NAME values.
type customFlag struct{ names []string }

func (c *customFlag) String() string { return strings.Join(c.names, ",") }

func (c *customFlag) Set(v string) error {
	switch {
	case v == "":
		return errors.New("empty endpoint name")
	case len(v) > 64:
		return fmt.Errorf("endpoint name %q is longer than 64 bytes", v)
	case strings.ContainsAny(v, " /\t\r\n"):
		return fmt.Errorf("endpoint name %q must not contain spaces or slashes", v)
	case slices.Contains(c.names, v):
		return fmt.Errorf("endpoint %q given twice", v)
	}
	c.names = append(c.names, v)
	return nil
}
