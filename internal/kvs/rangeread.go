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
	// StartTime means the stream's creation, a zero StopTime now.
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
	if r.StartTime.IsZero() && r.StopTime.IsZero() && r.StartFragment == "" {
		return errors.New("need a start time, a stop time or a start fragment")
	}
	if !r.StartTime.IsZero() && !r.StopTime.IsZero() && r.StopTime.Before(r.StartTime) {
		return fmt.Errorf("start time %s is after stop time %s", rfc3339(r.StartTime), rfc3339(r.StopTime))
	}
	return nil
}

// ReadRange reads the fragments of r in fragment-number order.
//
// With a time range it lists the fragments by server timestamp (the range
// widened by Options.ListPadding), keeps those within [StartFragment,
// StopFragment], adds both bounds if the listing missed them, and fetches
// the list with GetMediaForFragmentList in batches. A stop time alone lists
// from the stream's creation, which its ARN records, or for a stream known
// by name only from the Unix epoch. Without a time range it falls back to
// ReadLive from StartFragment (inclusive) that ends after StopFragment, or
// when the stream has nothing more.
//
// Without fragment bounds the padded listing may include fragments of
// neighbouring contacts on the same stream; the caller filters by ContactId.
func (c *Client) ReadRange(ctx context.Context, r Range) (*RangeReader, error) {
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("kvs: read range: %w", err)
	}
	if r.StartTime.IsZero() && r.StopTime.IsZero() {
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
		if r.StartTime.After(stop) {
			return nil, fmt.Errorf("kvs: read range: start time %s is in the future (now %s)", rfc3339(r.StartTime), rfc3339(stop))
		}
	}
	// Nothing precedes the stream, so its creation needs no padding.
	start := r.Stream.created()
	if !r.StartTime.IsZero() {
		start = r.StartTime.Add(-c.opts.ListPadding)
	} else if stop.Before(start) {
		return nil, fmt.Errorf("kvs: read range: stop time %s is before the stream was created (%s)", rfc3339(stop), rfc3339(start))
	}
	infos, err := c.ListFragments(ctx, r.Stream, FragmentSelector{
		Type:  ServerTimestamp,
		Start: start,
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
	req    []string        // what the open body was asked for: want, or a cut fragment alone
	solo   string          // the fragment bodies cut, asked for alone on the last attempt
	cut    *mkv.Fragment   // its most complete copy that ended a body
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
			r.open()
			continue
		}
		f, err := r.fr.Next()
		if err == nil && f.Truncated {
			f, err = r.truncated(f)
		}
		if err == nil {
			if n := f.FragmentNumber(); n != "" {
				if r.got[n] {
					continue // re-sent by the request that followed a break
				}
				r.got[n] = true
			}
			r.breaks, r.solo, r.cut = 0, "", nil
			return f, nil
		}
		r.closeBody()
		var brk *bodyBreak
		switch {
		case err == io.EOF && !slices.ContainsFunc(r.req, r.missed):
			r.want = r.missing()
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

// open requests the next body: what the current batch still owes (on the
// last attempt only the fragment bodies cut), else the next batch; or ends
// the read.
func (r *RangeReader) open() {
	if len(r.want) == 0 {
		if r.pos == len(r.numbers) {
			r.err = io.EOF
			return
		}
		end := min(r.pos+MaxFragmentList, len(r.numbers))
		r.want, r.pos = r.numbers[r.pos:end], end
		r.got = make(map[string]bool, len(r.want))
	}
	r.req = r.want
	if r.solo != "" && r.breaks == r.c.opts.MaxAttempts-1 {
		r.req = []string{r.solo}
	}
	body, err := r.c.GetMediaForFragmentList(r.ctx, r.stream, r.req)
	if err != nil {
		r.err = err
		return
	}
	r.body, r.fr = body, mkv.NewFragmentReader(breakReader{body})
}

// truncated decides about a fragment the body cut. A body that ended early
// cuts it, and the whole fragment is owed: errTruncated asks for it again.
// But KVS may store a fragment cut (a producer that stopped mid-fragment)
// and serve it so every time: after the last attempt its most complete copy
// is delivered, Truncated, and the batch goes on. Only a copy that ended its
// body is sound, since a cut block takes in whatever follows it; so the last
// attempt asks for the fragment alone.
func (r *RangeReader) truncated(f *mkv.Fragment) (*mkv.Fragment, error) {
	n := f.FragmentNumber()
	if n == "" {
		return nil, errTruncated
	}
	if r.cut != nil && mkv.CompareFragmentNumbers(r.cut.FragmentNumber(), n) != 0 {
		r.cut = nil
	}
	r.solo = n
	if mkv.CompareFragmentNumbers(r.req[len(r.req)-1], n) == 0 && (r.cut == nil || blockBytes(f) > blockBytes(r.cut)) {
		r.cut = f.Clone()
	}
	if r.breaks+1 < r.c.opts.MaxAttempts || r.cut == nil {
		return nil, errTruncated
	}
	best := r.cut
	r.c.log.LogAttrs(r.ctx, slog.LevelInfo, "fragment still truncated after every attempt; delivering its complete blocks",
		slog.String("stream", r.stream.String()), slog.String("fragment", n), slog.Int("attempts", r.breaks+1), slog.Int("blocks", len(best.Blocks)))
	return best, nil
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

// missed reports whether fragment n of the current batch is not delivered
// yet.
func (r *RangeReader) missed(n string) bool { return !r.got[n] }

// missing returns the numbers of the current batch not delivered yet.
func (r *RangeReader) missing() []string {
	var rest []string
	for _, n := range r.want {
		if r.missed(n) {
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
