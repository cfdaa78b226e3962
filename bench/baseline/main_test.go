package baseline

import (
	"testing"

	"github.com/tlsmux/tlsmux/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }
