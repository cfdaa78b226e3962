//go:build race

package forward

// raceEnabled: the race detector keeps slices.Grow from fusing its make into the append, so
// allocation counts differ (x/net/quic has the same switch in race_enabled.go).
const raceEnabled = true
