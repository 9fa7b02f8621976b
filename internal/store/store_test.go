package store

import (
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
)

func TestBackoffDoublesAndCaps(t *testing.T) {
	b := backoff{base: time.Second, max: time.Minute}
	for _, tc := range []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, time.Second, 1200 * time.Millisecond},
		{2, 2 * time.Second, 2400 * time.Millisecond},
		{5, 16 * time.Second, 19200 * time.Millisecond},
		{30, time.Minute, 72 * time.Second},
	} {
		for range 20 {
			d := time.Until(b.NextRetry(&rivertype.JobRow{Attempt: tc.attempt}))
			if d < tc.min-50*time.Millisecond || d > tc.max {
				t.Fatalf("attempt %d: retry in %v, want %v to %v", tc.attempt, d, tc.min, tc.max)
			}
		}
	}
}
