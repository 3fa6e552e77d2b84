package validate

import (
	"errors"
	"strings"
	"testing"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
)

func TestThread(t *testing.T) {
	const key = "00112233445566778899aabbccddeeff"
	pan := uint32(0xface)
	big := uint32(0xffff)
	for _, tc := range []struct {
		tc    *espprovv1.ThreadCredentials
		field string // "" = valid
		want  string
	}{
		{&espprovv1.ThreadCredentials{Dataset: "000300000f0102face0208dead00beef00cafe0510" + key}, "", ""},
		{&espprovv1.ThreadCredentials{NetworkKey: key, PanId: &pan, ExtPanId: "dead00beef00cafe", Channel: 15, NetworkName: "OT"}, "", ""},
		{&espprovv1.ThreadCredentials{}, "thread", "Thread needs thread.dataset"},
		{&espprovv1.ThreadCredentials{Dataset: "0102face", Channel: 15}, "thread", "not both"},
		{&espprovv1.ThreadCredentials{Dataset: "0102face"}, "thread.dataset", "no network key"},
		{&espprovv1.ThreadCredentials{Dataset: "xyz"}, "thread.dataset", "hex"},
		{&espprovv1.ThreadCredentials{NetworkKey: key}, "thread", "missing thread.pan_id, thread.ext_pan_id, thread.channel"},
		{&espprovv1.ThreadCredentials{NetworkKey: "00", PanId: &pan, ExtPanId: "dead00beef00cafe", Channel: 15}, "thread.network_key", "32 hex digits"},
		{&espprovv1.ThreadCredentials{NetworkKey: key, PanId: &pan, ExtPanId: "dead", Channel: 15}, "thread.ext_pan_id", "16 hex digits"},
		{&espprovv1.ThreadCredentials{NetworkKey: key, PanId: &big, ExtPanId: "dead00beef00cafe", Channel: 15}, "thread.pan_id", "0xfffe"},
		{&espprovv1.ThreadCredentials{NetworkKey: key, PanId: &pan, ExtPanId: "dead00beef00cafe", Channel: 10}, "thread.channel", "channel 10"},
		{&espprovv1.ThreadCredentials{NetworkKey: key, PanId: &pan, ExtPanId: "dead00beef00cafe", Channel: 15, NetworkName: strings.Repeat("n", 17)}, "thread.network_name", "16 bytes"},
	} {
		ds, err := ThreadDataset(tc.tc)
		var ve *Error
		switch {
		case tc.field == "" && (err != nil || len(ds) == 0):
			t.Errorf("%v: %v", tc.tc, err)
		case tc.field != "" && (!errors.As(err, &ve) || ve.Field != tc.field || !strings.Contains(ve.Msg, tc.want) || !errors.Is(err, ErrInvalid)):
			t.Errorf("%v: %v, want %s: %q", tc.tc, err, tc.field, tc.want)
		case err != nil && strings.Contains(err.Error(), key):
			t.Errorf("the error shows the key: %v", err)
		}
	}
}
