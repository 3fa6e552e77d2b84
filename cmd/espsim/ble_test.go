package main

import (
	"io"
	"strings"
	"testing"
)

func TestBLEFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // error substring; "" = accepted
	}{
		{[]string{"--ble-adapter", "hci1"}, ""},
		{[]string{"--ble-adapter", "hci1", "--ble-legacy", "--ble-readvertise-for", "hci0,hci2"}, ""},
		{[]string{"--ble-adapter", "hci1,hci3", "--fleet", "2"}, ""},
		{[]string{"--ble-adapter", "hci1,hci3"}, "2 adapters for 1 devices"},
		{[]string{"--ble-adapter", "hci1,hci1", "--fleet", "2"}, "given twice"},
		{[]string{"--ble-adapter", "wlan0"}, "want adapter names"},
		{[]string{"--ble-legacy"}, "--ble-legacy needs --ble-adapter"},
		{[]string{"--ble-readvertise-for", "hci0"}, "needs --ble-adapter"},
		{[]string{"--ble-adapter", "hci1", "--ble-readvertise-for", "hci0,x"}, "want adapter names"},
		{[]string{"--ble-adapter", "hci1", "--ble-max-value", "513"}, "ATT limit"},
	} {
		_, err := parseFlags(tc.args, io.Discard)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}
