//go:build unix

package tlsconn

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user + system) this process has used, all goroutines and the GC
// included.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
