package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tlsmux/tlsmux/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// TestFlags covers what does not start a run; the run itself is bench/report's TestTinyRun.
func TestFlags(t *testing.T) {
	var out, errb bytes.Buffer
	assert.Equal(t, 0, run(context.Background(), []string{"-help"}, &out, &errb))
	assert.Contains(t, errb.String(), "-quick")
	assert.NotContains(t, errb.String(), "-tiny", "the smoke test's plan is not advertised")
	assert.Empty(t, out.String())

	for _, args := range [][]string{{"-no-such-flag"}, {"extra"}, {"-quick", "extra"}} {
		errb.Reset()
		assert.Equal(t, 2, run(context.Background(), args, &out, &errb), "%q", args)
	}
}
