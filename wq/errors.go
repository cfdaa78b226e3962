package wq

import (
	"errors"
	"strconv"
)

// Reason names the limit that refused a Push. Its String is the name the reactor exports in
// drop counters. The zero Reason means no refusal.
type Reason uint8

const (
	// ConnFull: the per-connection limit (con_ct_wq_max) had no room for the whole write.
	ConnFull Reason = 1 + iota
	// GlobalFull: the budget shared by all connections (ct_wq_max) had no room.
	GlobalFull
)

func (r Reason) String() string {
	switch r {
	case ConnFull:
		return "wq_conn_full"
	case GlobalFull:
		return "wq_global_full"
	}
	return "wq_reason(" + strconv.Itoa(int(r)) + ")"
}

// Sentinels that a [*RefusedError] unwraps to, so callers may test with errors.Is.
var (
	ErrConnFull   = errors.New("wq: connection write queue full")
	ErrGlobalFull = errors.New("wq: global write queue budget exhausted")
)

// RefusedError reports a Push that was refused whole: nothing was queued or charged.
type RefusedError struct {
	Reason Reason
	Bytes  int // length of the refused write
}

func (e *RefusedError) Error() string {
	msg := "wq: write refused"
	if err := e.Unwrap(); err != nil {
		msg = err.Error()
	}
	return msg + ": refused " + strconv.Itoa(e.Bytes) + " bytes"
}

// Unwrap returns [ErrConnFull] or [ErrGlobalFull] according to Reason.
func (e *RefusedError) Unwrap() error {
	switch e.Reason {
	case ConnFull:
		return ErrConnFull
	case GlobalFull:
		return ErrGlobalFull
	}
	return nil
}
