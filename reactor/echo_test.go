package reactor_test

import (
	"crypto/tls"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEchoTLSVersions(t *testing.T) {
	e := start(t, setup{})
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			cfg := e.client.Clone()
			cfg.MinVersion, cfg.MaxVersion = v, v
			c, err := e.dial(cfg)
			require.NoError(t, err)
			defer c.Close()
			assert.Equal(t, v, c.ConnectionState().Version)
			for i, size := range []int{300, 1024, 4000, 20000, 70000} {
				require.NoError(t, echo(c, sipMessage(t, i, size)), "message of %d bytes", size)
			}
		})
	}
	st := e.srv.Stats()
	assert.EqualValues(t, 2, st.Handshakes)
}
