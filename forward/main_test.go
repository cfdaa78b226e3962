package forward

import (
	"math"
	"testing"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/tlsmux/tlsmux/internal/leakcheck"
)

func init() {
	// go-proxyproto caps a v2 header at 4096 bytes after the prefix to protect receivers; the
	// tests check our encoder up to the format's own limit, so let the parser read that far.
	proxyproto.MaxV2HeaderSize = math.MaxUint16
}

func TestMain(m *testing.M) { leakcheck.Main(m) }
