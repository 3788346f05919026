//go:build race

package bootstrap

// raceEnabled: the tests run under the race detector, whose sync.Pool
// drops a quarter of what is put back.
const raceEnabled = true
