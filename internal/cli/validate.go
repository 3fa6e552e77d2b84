package cli

import (
	"errors"

	"github.com/espprov/espprov/internal/validate"
)

// flagOf names the flag that sets an API field, for messages.
var flagOf = map[string]string{
	"wifi.ssid": "--ssid", "wifi.passphrase": "--passphrase", "security.pop": "--pop",
	"security.sec2_username": "--sec2_username", "security.sec2_password": "--sec2_password",
	"timeouts.exchange": "--exchange-timeout", "timeouts.overall": "--timeout", "timeouts.wifi_connect": "--wifi-timeout",
	"timeouts.status_poll": "--status-poll", "mapping.tags": "--tags", "mapping.metadata": "--metadata",
	"mapping.poll_interval": "--mapping-poll-interval", "mapping.max_wait": "--mapping-timeout",
	"device.address": "--device-ip/--device-host/--device-port", "device.serial_port": "--port", "device.name": "--device_name",
	"device.discovery_timeout": "--discovery-timeout", "timeouts.thread_attach": "--thread-timeout",
	"thread.dataset": "--dataset", "thread.network_key": "--thread-network-key", "thread.pan_id": "--thread-pan-id",
	"thread.ext_pan_id": "--thread-ext-pan-id", "thread.channel": "--thread-channel", "thread.network_name": "--thread-network-name",
}

// checkFields runs the service's own field checks (package validate) on
// what the flags built, before anything is contacted: the first failure is
// a usage error (exit 2) naming the flag.
func checkFields(errs ...error) error {
	for _, err := range errs {
		var ve *validate.Error
		if errors.As(err, &ve) {
			name := ve.Field
			if f, ok := flagOf[name]; ok {
				name = f
			}
			return usageErr("%s: %s", name, ve.Msg)
		}
		if err != nil {
			return usageErr("%v", err)
		}
	}
	return nil
}
