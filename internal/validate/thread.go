package validate

import (
	"errors"
	"strings"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/thread"
)

// ThreadDataset checks Thread credentials (ESP-IDF 6 network_provisioning)
// and returns the dataset TLVs to send: thread.dataset (hex TLVs that parse
// like OpenThread's otDatasetParseTlvs and name the network key, PAN ID,
// extended PAN ID and channel), or the dataset built from its parts.
func ThreadDataset(tc *espprovv1.ThreadCredentials) ([]byte, error) {
	parts := tc.GetNetworkKey() != "" || tc.PanId != nil || tc.GetExtPanId() != "" || tc.GetChannel() != 0 || tc.GetNetworkName() != ""
	switch {
	case tc.GetDataset() != "" && parts:
		return nil, bad("thread", "give thread.dataset or its parts (thread.network_key, thread.pan_id, thread.ext_pan_id, thread.channel, thread.network_name), not both")
	case tc.GetDataset() != "":
		d, err := thread.ParseHex(tc.GetDataset())
		if err == nil {
			err = d.CheckComplete()
		}
		if err != nil {
			return nil, bad("thread.dataset", "%s", threadMsg(err))
		}
		return d.TLVs, nil
	case !parts:
		return nil, bad("thread", "Thread needs thread.dataset (hex TLVs) or thread.network_key, thread.pan_id, thread.ext_pan_id and thread.channel")
	}
	var missing []string
	for _, f := range []struct {
		name string
		ok   bool
	}{{"thread.network_key", tc.GetNetworkKey() != ""}, {"thread.pan_id", tc.PanId != nil}, {"thread.ext_pan_id", tc.GetExtPanId() != ""}, {"thread.channel", tc.GetChannel() != 0}} {
		if !f.ok {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, bad("thread", "Thread credentials are missing %s", strings.Join(missing, ", "))
	}
	key, err := thread.DecodeHexField("network key", tc.GetNetworkKey(), 16)
	if err != nil {
		return nil, bad("thread.network_key", "%s", threadMsg(err))
	}
	ext, err := thread.DecodeHexField("extended PAN ID", tc.GetExtPanId(), 8)
	if err != nil {
		return nil, bad("thread.ext_pan_id", "%s", threadMsg(err))
	}
	switch {
	case tc.GetPanId() > 0xfffe:
		return nil, bad("thread.pan_id", "must be at most 0xfffe (got 0x%x)", tc.GetPanId())
	case tc.GetChannel() < thread.MinChannel || tc.GetChannel() > thread.MaxChannel:
		return nil, bad("thread.channel", "channel %d; Thread uses channels %d to %d", tc.GetChannel(), thread.MinChannel, thread.MaxChannel)
	}
	ds, err := thread.Build(thread.Params{NetworkKey: key, PanID: uint16(tc.GetPanId()), ExtPanID: ext, Channel: uint16(tc.GetChannel()), NetworkName: tc.GetNetworkName()})
	if err != nil {
		return nil, bad("thread.network_name", "%s", threadMsg(err))
	}
	return ds, nil
}

// Thread checks Thread credentials.
func Thread(tc *espprovv1.ThreadCredentials) error {
	_, err := ThreadDataset(tc)
	return err
}

// threadMsg drops the package's "invalid Thread dataset: " prefix where the
// field name says it already.
func threadMsg(err error) string {
	msg := err.Error()
	if errors.Is(err, thread.ErrInvalid) {
		msg = strings.TrimPrefix(msg, thread.ErrInvalid.Error()+": ")
	}
	return msg
}
