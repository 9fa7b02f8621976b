package kvs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/vmx-dev/vmx/internal/mkv"
)

// Range bounds the audio of a finished contact, as a contact record or the
// flow's media-streaming attributes give it.
type Range struct {
	Stream Stream
	// StartFragment and StopFragment are the first and last fragment
	// numbers (decimal, inclusive); either may be empty.
	StartFragment, StopFragment string
	// StartTime and StopTime bound the fragments by server timestamp. A zero
	// StopTime means now.
	StartTime, StopTime time.Time
}

func (r Range) validate() error {
	if err := r.Stream.validate(); err != nil {
		return err
	}
	for _, n := range []string{r.StartFragment, r.StopFragment} {
		if n != "" && !mkv.ValidFragmentNumber(n) {
			return fmt.Errorf("invalid fragment number %q", n)
		}
	}
	if r.StartFragment != "" && r.StopFragment != "" && mkv.CompareFragmentNumbers(r.StartFragment, r.StopFragment) > 0 {
		return fmt.Errorf("start fragment %s after stop fragment %s", r.StartFragment, r.StopFragment)
	}
	if r.StartTime.IsZero() {
		if !r.StopTime.IsZero() {
			return errors.New("stop time without start time")
		}
		if r.StartFragment == "" {
			return errors.New("need a start time or a start fragment")
		}
	} else if !r.StopTime.IsZero() && r.StopTime.Before(r.StartTime) {
		return fmt.Errorf("stop time %s before start time %s", r.StopTime, r.StartTime)
	}
	return nil
}

// ReadRange reads the fragments of r in fragment-number order.
//
// With a time range it lists the fragments by server timestamp (the range
// widened by Options.ListPadding), keeps those within [StartFragment,
// StopFragment], adds both bounds if the listing missed them, and fetches
// the list with GetMediaForFragmentList in batches. Without a time range it
// falls back to ReadLive from StartFragment (inclusive) that ends after
// StopFragment, or when the stream has nothing more.
//
// Without fragment bounds the padded listing may include fragments of
// neighbouring contacts on the same stream; the caller filters by ContactId.
func (c *Client) ReadRange(ctx context.Context, r Range) (*RangeReader, error) {
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("kvs: read range: %w", err)
	}
	if r.StartTime.IsZero() {
		live, err := c.ReadLive(ctx, Live{
			Stream:               r.Stream,
			Start:                StartSelector{Type: StartFragmentNumber, FragmentNumber: r.StartFragment},
			IncludeStartFragment: true,
			StopFragment:         r.StopFragment,
		})
		if err != nil {
			return nil, err
		}
		return &RangeReader{live: live}, nil
	}
	stop := r.StopTime
	if stop.IsZero() {
		stop = time.Now()
	}
	infos, err := c.ListFragments(ctx, r.Stream, FragmentSelector{
		Type:  ServerTimestamp,
		Start: r.StartTime.Add(-c.opts.ListPadding),
		End:   stop.Add(c.opts.ListPadding),
	})
	if err != nil {
		return nil, err
	}
	numbers := selectFragments(infos, r.StartFragment, r.StopFragment)
	c.log.LogAttrs(ctx, slog.LevelDebug, "fragments selected",
		slog.String("stream", r.Stream.String()), slog.Int("listed", len(infos)), slog.Int("selected", len(numbers)))
	return &RangeReader{c: c, ctx: ctx, stream: r.Stream, numbers: numbers}, nil
}

// selectFragments returns the listed numbers within [start, stop] (either
// bound may be empty) plus the bounds themselves, without duplicates, in
// numeric order. The bounds are added because the contact record names them
// while the listing, eventually consistent and selected by start time, may
// miss them.
func selectFragments(infos []FragmentInfo, start, stop string) []string {
	numbers := make([]string, 0, len(infos)+2)
	for _, f := range infos {
		if !mkv.ValidFragmentNumber(f.Number) {
			continue
		}
		if start != "" && mkv.CompareFragmentNumbers(f.Number, start) < 0 {
			continue
		}
		if stop != "" && mkv.CompareFragmentNumbers(f.Number, stop) > 0 {
			continue
		}
		numbers = append(numbers, f.Number)
	}
	for _, n := range []string{start, stop} {
		if n != "" {
			numbers = append(numbers, n)
		}
	}
	slices.SortFunc(numbers, mkv.CompareFragmentNumbers)
	return slices.CompactFunc(numbers, func(a, b string) bool { return mkv.CompareFragmentNumbers(a, b) == 0 })
}

// RangeReader yields the fragments of a Range. It is not safe for
// concurrent use.
type RangeReader struct {
	live *LiveReader // the GetMedia fallback; the fields below are unused then

	c       *Client
	ctx     context.Context
	stream  Stream
	numbers []string // every fragment to fetch, in order
	pos     int      // numbers[:pos] belong to batches already requested

	want   []string        // the current batch, less what was delivered before a break
	got    map[string]bool // numbers delivered from the current batch
	body   io.ReadCloser
	fr     *mkv.FragmentReader
	breaks int   // consecutive broken bodies without a delivered fragment
	err    error // sticky: io.EOF, a failure or errClosed
}

// Next returns the next fragment, or io.EOF after the last. The fragment is
// valid until the next call to Next or Close; error chunks for fragments the
// service could not serve are passed through.
func (r *RangeReader) Next() (*mkv.Fragment, error) {
	if r.live != nil {
		return r.live.Next()
	}
	for r.err == nil {
		if r.fr == nil {
			if len(r.want) == 0 {
				if r.pos == len(r.numbers) {
					r.err = io.EOF
					break
				}
				end := min(r.pos+MaxFragmentList, len(r.numbers))
				r.want, r.pos = r.numbers[r.pos:end], end
				r.got = make(map[string]bool, len(r.want))
			}
			body, err := r.c.GetMediaForFragmentList(r.ctx, r.stream, r.want)
			if err != nil {
				r.err = err
				break
			}
			r.body, r.fr = body, mkv.NewFragmentReader(breakReader{body})
		}
		f, err := r.fr.Next()
		if err == nil && f.Truncated {
			// Only a body that ended early truncates a fragment here; the
			// whole one is owed, not delivered twice.
			err = errTruncated
		}
		if err == nil {
			if n := f.FragmentNumber(); n != "" {
				if r.got[n] {
					continue // re-sent by the request that followed a break
				}
				r.got[n] = true
			}
			r.breaks = 0
			return f, nil
		}
		r.closeBody()
		var brk *bodyBreak
		switch {
		case err == io.EOF && len(r.missing()) == 0:
			r.want = nil
		case err == io.EOF:
			// The service answers every number, with an error chunk if need
			// be; a body that stopped short ended early.
			r.retryBatch(fmt.Errorf("response ended with %d of %d fragments missing", len(r.missing()), len(r.want)))
		case err == errTruncated, errors.As(err, &brk), errors.Is(err, io.ErrUnexpectedEOF):
			// A broken body, a truncated fragment, or a body that ended
			// inside an EBML header: the rest of the batch is still owed.
			r.retryBatch(err)
		default:
			r.err = fmt.Errorf("kvs: %s: %w", opGetMediaForFragmentList, err)
		}
	}
	return nil, r.err
}

// retryBatch handles a body that broke: the fragment it cut is lost with
// the reader's state, so the rest of the batch, that fragment included, is
// requested again.
func (r *RangeReader) retryBatch(cause error) {
	if r.ctx.Err() != nil {
		r.err = fmt.Errorf("kvs: %s: %w", opGetMediaForFragmentList, r.ctx.Err())
		return
	}
	r.breaks++
	if r.breaks >= r.c.opts.MaxAttempts {
		r.err = fmt.Errorf("kvs: %s: gave up after %d attempts: %w", opGetMediaForFragmentList, r.breaks, cause)
		return
	}
	rest := r.missing()
	r.want = rest
	d := r.c.backoff(r.breaks)
	r.c.log.LogAttrs(r.ctx, slog.LevelWarn, "fragment list body broke; requesting the rest again",
		slog.String("stream", r.stream.String()), slog.Int("remaining", len(rest)), slog.Duration("delay", d), slog.Any("error", cause))
	if err := sleep(r.ctx, d); err != nil {
		r.err = fmt.Errorf("kvs: %s: %w", opGetMediaForFragmentList, err)
	}
}

// missing returns the numbers of the current batch not delivered yet.
func (r *RangeReader) missing() []string {
	var rest []string
	for _, n := range r.want {
		if !r.got[n] {
			rest = append(rest, n)
		}
	}
	return rest
}

func (r *RangeReader) closeBody() {
	if r.body != nil {
		r.body.Close()
		r.body, r.fr = nil, nil
	}
}

// Close releases the connection. It is safe to call more than once.
func (r *RangeReader) Close() error {
	if r.live != nil {
		return r.live.Close()
	}
	r.closeBody()
	if r.err == nil || r.err == io.EOF {
		r.err = errClosed
	}
	return nil
}

var (
	// errClosed is returned by Next after Close.
	errClosed = errors.New("kvs: reader closed")
	// errTruncated marks a fragment list response that ended inside a
	// fragment.
	errTruncated = errors.New("response ended inside a fragment")
)
