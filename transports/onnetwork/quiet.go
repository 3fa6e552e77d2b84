package onnetwork

import dnssdlog "github.com/brutella/dnssd/log"

// dnssd writes its informational log lines to standard output, which would
// corrupt the output of programs using this package (the CLI's JSON lines).
func init() { dnssdlog.Info.Disable() }
