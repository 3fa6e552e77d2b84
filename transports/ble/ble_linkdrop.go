package ble

// DropsLinkOnFailure implements transports.LinkDropper: ESP-IDF's Bluedroid
// transport disconnects when a protocomm exchange fails, e.g. a wrong PoP.
func (t *Transport) DropsLinkOnFailure() bool { return true }
