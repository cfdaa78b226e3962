package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

// TestConcurrentWrites fails under -race if the mutex is missing, and counts every byte.
func TestConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("ab"))
				_, _ = b.WriteString("c")
				_ = b.String()
			}
		})
	}
	wg.Wait()
	s := b.String()
	if len(s) != 8*100*3 || strings.Count(s, "c") != 800 {
		t.Fatalf("got %d bytes, %d c", len(s), strings.Count(s, "c"))
	}
}
