//go:build !race

package provisioning_test

// raceEnabled: built with -race (its shadow memory is never given back).
const raceEnabled = false
