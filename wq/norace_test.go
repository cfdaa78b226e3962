//go:build !race

package wq

const raceEnabled = false
