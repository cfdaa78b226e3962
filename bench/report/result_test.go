package report

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseResult(t *testing.T) {
	out := "READY 1000\n" + `{"scenario":"echo","conns":1000,"ok":998,"failed":2,"failures":{"dial":2},"mismatches":0,` +
		`"elapsed_s":12.3,"handshakes":1000,"resumed":0,"handshakes_per_s":800.1,"messages":123456,` +
		`"messages_per_s":10000.0,"mb_per_s":10.2,"latency_us":{"p50":800,"p99":5000,"p999":9000},` +
		`"future_field":[1,2],"procs":2}` + "\n"
	r, err := ParseResult([]byte(out))
	require.NoError(t, err)
	assert.Equal(t, "echo", r.Scenario)
	assert.Equal(t, 998, r.OK)
	assert.Equal(t, map[string]int{"dial": 2}, r.Failures)
	assert.Equal(t, int64(123456), r.Messages)
	require.NotNil(t, r.Latency)
	assert.Equal(t, 5000.0, r.Latency.P99)
	assert.Nil(t, r.BaselineLatency, "absent objects stay nil")
	assert.Equal(t, 2, r.Procs)
	assert.Equal(t, "2 failed (dial 2)", r.failureText())

	// Pretty-printed JSON after other lines parses too.
	r, err = ParseResult([]byte("READY 5\nsomething else\n{\n  \"scenario\": \"storm\",\n  \"recovery_s\": 4.1\n}\n"))
	require.NoError(t, err)
	assert.Equal(t, 4.1, r.RecoveryS)
	assert.Empty(t, r.failureText())

	for _, bad := range []string{"", "READY 5\n", "READY 5\n{\"scenario\":", "x {\"scenario\":\"echo\"}"} {
		_, err := ParseResult([]byte(bad))
		assert.Error(t, err, "%q", bad)
	}
}

func FuzzParseResult(f *testing.F) {
	f.Add([]byte("READY 3\n{\"scenario\":\"idle\",\"alive\":3}\n"))
	f.Fuzz(func(t *testing.T, b []byte) { ParseResult(b) })
}
