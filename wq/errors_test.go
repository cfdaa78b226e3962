package wq

import (
	"errors"
	"testing"
)

func TestReasonString(t *testing.T) {
	for _, tc := range []struct {
		r    Reason
		want string
	}{
		{ConnFull, "wq_conn_full"},
		{GlobalFull, "wq_global_full"},
		{0, "wq_reason(0)"},
		{200, "wq_reason(200)"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("Reason(%d).String() = %q, want %q", uint8(tc.r), got, tc.want)
		}
	}
}

func TestRefusedErrorIs(t *testing.T) {
	for _, tc := range []struct {
		r        Reason
		is, isnt error
		msg      string
	}{
		{ConnFull, ErrConnFull, ErrGlobalFull, "wq: connection write queue full: refused 7 bytes"},
		{GlobalFull, ErrGlobalFull, ErrConnFull, "wq: global write queue budget exhausted: refused 7 bytes"},
	} {
		var err error = &RefusedError{Reason: tc.r, Bytes: 7}
		if !errors.Is(err, tc.is) {
			t.Errorf("%v: errors.Is(%v) = false, want true", tc.r, tc.is)
		}
		if errors.Is(err, tc.isnt) {
			t.Errorf("%v: errors.Is(%v) = true, want false", tc.r, tc.isnt)
		}
		if got := err.Error(); got != tc.msg {
			t.Errorf("%v: Error() = %q, want %q", tc.r, got, tc.msg)
		}
		var re *RefusedError
		if !errors.As(err, &re) || re.Reason != tc.r || re.Bytes != 7 {
			t.Errorf("%v: errors.As gave %+v", tc.r, re)
		}
	}
	if got := (&RefusedError{Bytes: 1}).Error(); got != "wq: write refused: refused 1 bytes" {
		t.Errorf("zero Reason: Error() = %q", got)
	}
}
