package ble

import "time"

// SetConnectAttempt shortens the per-attempt connect bound for a test and
// returns the function restoring it.
func SetConnectAttempt(d time.Duration) (restore func()) {
	old := connectAttempt
	connectAttempt = d
	return func() { connectAttempt = old }
}
