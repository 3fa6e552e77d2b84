package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/espprov/espprov/internal/sim/device"
	"github.com/espprov/espprov/internal/thread"
)

// netprovOptions are the ESP-IDF 6 network_provisioning flags.
type netprovOptions struct {
	netprov       bool
	networks      string
	threadNets    threadFlag
	attachDelay   time.Duration
	attachTimeout time.Duration
}

// threadFlag collects repeatable --thread-dataset HEX values.
type threadFlag struct{ nets []device.ThreadNetwork }

func (f *threadFlag) String() string { return fmt.Sprintf("%d networks", len(f.nets)) } // never the keys

func (f *threadFlag) Set(v string) error {
	d, err := thread.ParseHex(v)
	if err == nil {
		err = d.CheckComplete()
	}
	if err != nil {
		return err
	}
	n := len(f.nets)
	f.nets = append(f.nets, device.ThreadNetwork{Dataset: d.TLVs, RSSI: -55 - 6*(n%8), LQI: 255 - 20*(n%8)})
	return nil
}

func addNetProvFlags(fs *flag.FlagSet, o *netprovOptions) {
	fs.BoolVar(&o.netprov, "netprov", false, "ESP-IDF 6 network_provisioning device (proto-ver netprov-v1.2, network_* messages; Security 2 by default like IDF 6)")
	fs.StringVar(&o.networks, "netprov-networks", "", "network types a --netprov device offers: wifi, thread or wifi,thread (default: thread when --thread-dataset is given, plus wifi when --ap is given or no --thread-dataset)")
	fs.Var(&o.threadNets, "thread-dataset", "a Thread network in range, as its active operational dataset in hex (ot-ctl dataset active -x); repeatable; needs --netprov")
	fs.DurationVar(&o.attachDelay, "thread-attach-delay", device.DefaultThreadAttachDelay, "time from ApplyThreadConfig to attached for a dataset of a network in range")
	fs.DurationVar(&o.attachTimeout, "thread-attach-timeout", device.DefaultThreadAttachTimeout, "firmware attach timer: a dataset with an unknown network or a wrong key fails (ThreadNetworkNotFound) after it")
}

func checkNetProvFlags(o *netprovOptions, hasAPs bool, set map[string]bool) error {
	if !o.netprov {
		for _, f := range []string{"netprov-networks", "thread-dataset", "thread-attach-delay", "thread-attach-timeout"} {
			if set[f] {
				return fmt.Errorf("--%s needs --netprov", f)
			}
		}
		return nil
	}
	if o.attachDelay <= 0 || o.attachTimeout <= 0 {
		return errors.New("--thread-attach-delay and --thread-attach-timeout must be > 0")
	}
	if o.networks == "" {
		var n []string
		if hasAPs || len(o.threadNets.nets) == 0 {
			n = append(n, "wifi")
		}
		if len(o.threadNets.nets) > 0 {
			n = append(n, "thread")
		}
		o.networks = strings.Join(n, ",")
	}
	for _, n := range strings.Split(o.networks, ",") {
		if n != "wifi" && n != "thread" {
			return fmt.Errorf("--netprov-networks %q: want wifi, thread or wifi,thread", o.networks)
		}
	}
	if len(o.threadNets.nets) > 0 && !o.offers("thread") {
		return errors.New("--thread-dataset needs a device that offers thread (--netprov-networks)")
	}
	return nil
}

func (o *netprovOptions) offers(n string) bool {
	for _, x := range strings.Split(o.networks, ",") {
		if x == n {
			return true
		}
	}
	return false
}

// apply sets the network_provisioning part of the device template.
func (o *netprovOptions) apply(c *device.Config) {
	if !o.netprov {
		return
	}
	c.NetProv, c.NoWifi, c.Thread = true, !o.offers("wifi"), o.offers("thread")
	c.ThreadNetworks = o.threadNets.nets
	c.ThreadAttachDelay, c.ThreadAttachTimeout = o.attachDelay, o.attachTimeout
}

// describe is the device line's network_provisioning part.
func (o *netprovOptions) describe() string {
	if !o.netprov {
		return ""
	}
	return fmt.Sprintf(", network_provisioning %s, %d Thread networks", strings.ReplaceAll(o.networks, ",", "+"), len(o.threadNets.nets))
}
