// Package retry classifies errors for whoever runs a pipeline step: a
// permanent error is not retried, a delayed one is retried no sooner than it
// asks. River workers and Lambda handlers map these to their own signals.
package retry

import (
	"errors"
	"time"
)

type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// Permanent marks err as one that retrying cannot fix: bad input, a
// destination that refuses the request.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanent{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked
// Permanent.
func IsPermanent(err error) bool {
	var p *permanent
	return errors.As(err, &p)
}

type delayed struct {
	err   error
	delay time.Duration
}

func (d *delayed) Error() string { return d.err.Error() }
func (d *delayed) Unwrap() error { return d.err }

// After marks err as retryable no sooner than d: a throttled request with a
// Retry-After, a recording that is not there yet.
func After(d time.Duration, err error) error {
	if err == nil {
		return nil
	}
	return &delayed{err, d}
}

// Delay returns the delay an error asked for with After.
func Delay(err error) (time.Duration, bool) {
	var d *delayed
	if errors.As(err, &d) {
		return d.delay, true
	}
	return 0, false
}
