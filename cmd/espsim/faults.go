package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	simcloud "github.com/espprov/espprov/internal/sim/cloud"
	"github.com/espprov/espprov/internal/sim/device"
)

// deviceFault is one --fault: a fault and the devices it applies to.
type deviceFault struct {
	fault device.Fault
	// devices: nil = every device; otherwise the listed indexes.
	devices map[int]bool
	// every: with N > 0, every N-th device (indexes 0, N, 2N, …).
	every int
}

func (f deviceFault) applies(i int) bool {
	switch {
	case f.every > 0:
		return i%f.every == 0
	case f.devices != nil:
		return f.devices[i]
	}
	return true
}

// faultFlag collects repeatable --fault [DEVICES=]KIND@STEP[xN] values.
type faultFlag struct{ faults []deviceFault }

func (f *faultFlag) String() string {
	var s []string
	for _, x := range f.faults {
		s = append(s, x.fault.String())
	}
	return strings.Join(s, ",")
}

func (f *faultFlag) Set(v string) error {
	sel, spec, ok := strings.Cut(v, "=")
	if !ok {
		sel, spec = "", v
	}
	flt, err := device.ParseFault(spec)
	if err != nil {
		return err
	}
	df := deviceFault{fault: flt}
	switch {
	case sel == "" || sel == "*":
	case strings.HasPrefix(sel, "*/"):
		n, err := strconv.Atoi(sel[2:])
		if err != nil || n < 1 {
			return fmt.Errorf("fault devices %q: want */N with N >= 1", sel)
		}
		df.every = n
	default:
		df.devices = map[int]bool{}
		for _, p := range strings.Split(sel, ",") {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 {
				return fmt.Errorf("fault devices %q: want device indexes like 0,3,7 or */N", sel)
			}
			df.devices[n] = true
		}
	}
	f.faults = append(f.faults, df)
	return nil
}

// cloudFaultFlag collects --cloud-fault 5xx:N | 401:N | timeout:DURATION.
type cloudFaultFlag struct {
	failN, failStatus int
	delay             time.Duration
	set               []string
}

func (c *cloudFaultFlag) String() string { return strings.Join(c.set, ",") }

func (c *cloudFaultFlag) Set(v string) error {
	kind, arg, _ := strings.Cut(v, ":")
	switch kind {
	case "5xx", "401":
		n := 1
		if arg != "" {
			var err error
			if n, err = strconv.Atoi(arg); err != nil || n < 1 {
				return fmt.Errorf("--cloud-fault %s: want %s:N with N >= 1", v, kind)
			}
		}
		c.failN, c.failStatus = n, 503
		if kind == "401" {
			c.failStatus = 401
		}
	case "timeout":
		d, err := time.ParseDuration(arg)
		if err != nil || d <= 0 {
			return fmt.Errorf("--cloud-fault %s: want timeout:DURATION (every reply that late)", v)
		}
		c.delay = d
	default:
		return fmt.Errorf("--cloud-fault %s: want 5xx:N, 401:N or timeout:DURATION", v)
	}
	c.set = append(c.set, v)
	return nil
}

func (c *cloudFaultFlag) apply(cloud *simcloud.Cloud) {
	if c.failN > 0 {
		cloud.FailNext(c.failN, c.failStatus)
	}
	if c.delay > 0 {
		cloud.SetDelay(c.delay)
	}
}

func addFaultFlags(fs *flag.FlagSet, o *options) {
	fs.Var(&o.faults, "fault", "inject a device fault, [DEVICES=]KIND@STEP[xN] (DEVICES: indexes 0,3 or */N for every N-th; default all; fires once unless xN): kinds "+
		fmt.Sprint(device.FaultKinds)+", steps "+fmt.Sprint(device.FaultSteps)+" or an application endpoint; repeatable")
	fs.DurationVar(&o.slowAssociation, "slow-association", 30*time.Second, "association time of a slow@wifi fault")
	fs.Var(&o.cloudFaults, "cloud-fault", "with --cloud-listen: 5xx:N (the next N requests fail with 503), 401:N, or timeout:DURATION (every reply delayed); repeatable")
}

func checkFaultFlags(o *options) error {
	if len(o.cloudFaults.set) > 0 && o.cloudListen == "" {
		return errors.New("--cloud-fault needs --cloud-listen")
	}
	for _, f := range o.faults.faults {
		for i := range f.devices {
			if i >= o.fleetN {
				return fmt.Errorf("--fault %s: device %d, but the fleet has %d", f.fault, i, o.fleetN)
			}
		}
	}
	if o.slowAssociation <= 0 {
		return errors.New("--slow-association must be > 0")
	}
	return nil
}

// applyFaults gives device i its faults.
func (o *options) applyFaults(i int, c *device.Config) {
	c.SlowAssociation = o.slowAssociation
	for _, f := range o.faults.faults {
		if f.applies(i) {
			c.Faults = append(c.Faults, f.fault)
		}
	}
}
