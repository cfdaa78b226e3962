//go:build race

package reactor_test

// raceEnabled: the race detector makes crypto ~10x slower, so load tests scale down under it.
const raceEnabled = true
