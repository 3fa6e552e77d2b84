package thread

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// esp_prov (network_provisioning/tool/esp_prov/esp_prov.py,
// get_thread_dataset_tlvs) builds '00030000' + channel + '0208' + ext_pan_id
// + '0510' + network_key + '0102' + pan_id. Build writes the same TLVs in
// type order; Parse must read both orders to the same values.
func TestBuildMatchesEspProvTLVs(t *testing.T) {
	key := unhex(t, "00112233445566778899aabbccddeeff")
	ext := unhex(t, "dead00beef00cafe")
	espProv := unhex(t, "0003000014"+"0208dead00beef00cafe"+"051000112233445566778899aabbccddeeff"+"01021234")
	got, err := Build(Params{NetworkKey: key, PanID: 0x1234, ExtPanID: ext, Channel: 20})
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, "0003000014 01021234 0208dead00beef00cafe 051000112233445566778899aabbccddeeff")
	if !bytes.Equal(got, want) {
		t.Fatalf("Build = %x, want %x", got, want)
	}
	for _, b := range [][]byte{got, espProv} {
		d, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.CheckComplete(); err != nil {
			t.Fatal(err)
		}
		if d.Channel != 20 || d.PanID != 0x1234 || !bytes.Equal(d.ExtPanID[:], ext) || !bytes.Equal(d.NetworkKey[:], key) {
			t.Fatalf("parsed %v", d)
		}
	}
	named, err := Build(Params{NetworkKey: key, PanID: 0xface, ExtPanID: ext, Channel: 15, NetworkName: "OpenThread-1"})
	if err != nil {
		t.Fatal(err)
	}
	wantNamed := unhex(t, "000300000f 0102face 0208dead00beef00cafe 030c4f70656e5468726561642d31 051000112233445566778899aabbccddeeff")
	if !bytes.Equal(named, wantNamed) {
		t.Fatalf("Build named = %x, want %x", named, wantNamed)
	}
	d, err := Parse(named)
	if err != nil || d.NetworkName != "OpenThread-1" {
		t.Fatalf("Parse named: %v %v", d, err)
	}
}

// A full dataset as OpenThread's `dataset active -x` prints it (active
// timestamp, channel, channel mask, ext PAN ID, mesh-local prefix, key,
// name, PAN ID, PSKc, security policy).
const fullDataset = "0e080000000000010000 000300000f 35060004001fffe0 0208dead00beef00cafe 0708fddead00beef0000 051000112233445566778899aabbccddeeff 030f4f70656e5468726561642d74657374 0102face 0410a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5 0c0402a0f7f8"

func TestParseFullDataset(t *testing.T) {
	d, err := ParseHex("0x" + fullDataset)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CheckComplete(); err != nil {
		t.Fatal(err)
	}
	if d.NetworkName != "OpenThread-test" || d.PanID != 0xface || d.Channel != 15 {
		t.Fatalf("parsed %v", d)
	}
	if strings.Contains(d.String(), "112233") {
		t.Fatalf("String shows the key: %s", d)
	}
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct{ name, hex, want string }{
		{"empty", "", "empty"},
		{"odd", "000", "hex"},
		{"truncated header", "00", "truncated"},
		{"overrun", "000500000f", "claims"},
		{"duplicate", "000300000f000300000f", "twice"},
		{"short channel", "00020000", "at least 3"},
		{"channel out of band", "0003000005", "channel 5"},
		{"page 2", "000302000f", "page 2"},
		{"short key", "05080011223344556677", "at least 16"},
		{"long name", "0311" + strings.Repeat("41", 17), "network name"},
		{"empty name", "0300", "network name"},
		{"extended length", "00ff", "extended"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseHex(tc.hex)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseHex(%s) = %v, want %q", tc.hex, err, tc.want)
			}
		})
	}
	if _, err := Parse(make([]byte, 255)); err == nil || !strings.Contains(err.Error(), "at most 254") {
		t.Fatalf("oversize: %v", err)
	}
	d, err := ParseHex("0102face")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CheckComplete(); err == nil || !strings.Contains(err.Error(), "network key, extended PAN ID, channel") {
		t.Fatalf("CheckComplete = %v", err)
	}
}

func TestBuildRejects(t *testing.T) {
	key, ext := make([]byte, 16), make([]byte, 8)
	for _, tc := range []struct {
		p    Params
		want string
	}{
		{Params{NetworkKey: key[:15], ExtPanID: ext, Channel: 11}, "network key"},
		{Params{NetworkKey: key, ExtPanID: ext[:7], Channel: 11}, "extended PAN ID"},
		{Params{NetworkKey: key, ExtPanID: ext, Channel: 27}, "channel 27"},
		{Params{NetworkKey: key, ExtPanID: ext, Channel: 11, PanID: 0xffff}, "broadcast"},
		{Params{NetworkKey: key, ExtPanID: ext, Channel: 11, NetworkName: strings.Repeat("n", 17)}, "network name"},
	} {
		if _, err := Build(tc.p); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Build(%v) = %v, want %q", tc.want, err, tc.want)
		}
	}
	if _, err := DecodeHexField("network key", "0011", 16); err == nil || !strings.Contains(err.Error(), "32 hex digits") {
		t.Fatalf("DecodeHexField: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(unhex(f, fullDataset))
	f.Add(unhex(f, "000300000f"))
	f.Add([]byte{0, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse(b)
		if err != nil {
			return
		}
		if len(b) > MaxDatasetLen || !bytes.Equal(d.TLVs, b) {
			t.Fatalf("accepted %x as %v", b, d)
		}
		if d.HasChannel && (d.Channel < MinChannel || d.Channel > MaxChannel) {
			t.Fatalf("accepted channel %d", d.Channel)
		}
	})
}
