package kvs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/vmx-dev/vmx/internal/mkv"
)

// Live says what a live read follows and when it ends.
type Live struct {
	Stream Stream
	Start  StartSelector
	// IncludeStartFragment, with a StartFragmentNumber selector, delivers
	// the fragment Start.FragmentNumber itself first, as Connect's
	// StartFragmentNumber (where the audio begins) needs. The docs disagree
	// on whether GetMedia's FRAGMENT_NUMBER is inclusive, so the reader
	// fetches that fragment with GetMediaForFragmentList, then asks GetMedia
	// for what follows it; de-duplication makes the result the same under
	// either reading. Without it, the read starts after the fragment.
	IncludeStartFragment bool
	// StopFragment, when set, ends the read after the fragment with this
	// number; a later fragment ends it too and is not delivered.
	StopFragment string
	// MaxDuration ends the read (io.EOF) this long after ReadLive; zero
	// means no limit.
	MaxDuration time.Duration
}

func (l Live) validate() error {
	if err := l.Stream.validate(); err != nil {
		return err
	}
	if err := l.Start.validate(); err != nil {
		return err
	}
	if l.IncludeStartFragment && l.Start.Type != StartFragmentNumber {
		return fmt.Errorf("IncludeStartFragment needs a %s selector", StartFragmentNumber)
	}
	if l.StopFragment != "" {
		if !mkv.ValidFragmentNumber(l.StopFragment) {
			return fmt.Errorf("invalid stop fragment number %q", l.StopFragment)
		}
		if l.Start.Type == StartFragmentNumber && mkv.CompareFragmentNumbers(l.Start.FragmentNumber, l.StopFragment) > 0 {
			return fmt.Errorf("start fragment %s after stop fragment %s", l.Start.FragmentNumber, l.StopFragment)
		}
	}
	if l.MaxDuration < 0 {
		return fmt.Errorf("negative max duration %s", l.MaxDuration)
	}
	return nil
}

// LiveReader yields the fragments of a stream as GetMedia delivers them,
// across as many GetMedia sessions as it takes. It is not safe for
// concurrent use; cancel the context given to ReadLive to abort a blocked
// Next.
type LiveReader struct {
	c    *Client
	in   Live
	ctx  context.Context    // the caller's: its end is an error
	run  context.Context    // ctx bounded by MaxDuration: its end is io.EOF
	halt context.CancelFunc // releases run

	// The open session; fr is nil between sessions.
	fr     *mkv.FragmentReader
	body   io.ReadCloser
	sb     *sessionBody
	cancel context.CancelFunc // ends the session's request

	fetching   bool // the session is the GetMediaForFragmentList of the start fragment
	fetchTries int
	sessions   int  // GetMedia sessions opened
	progress   bool // the session brought a new fragment
	empty      int  // consecutive reconnects that brought nothing new

	last    string          // number of the last fragment delivered
	lastErr string          // number of the last error chunk delivered
	token   string          // continuation token of the last complete fragment delivered
	held    *mkv.Fragment   // a copy of a cut fragment, waiting for its whole re-delivery
	queue   []*mkv.Fragment // fragments to hand out before reading on
	done    error           // returned once queue is empty: io.EOF or the failure
}

// ReadLive starts a live read. It sends nothing until the first Next.
//
// When a GetMedia session ends (the service closes it after about 45
// minutes, the connection breaks, or it stays idle for
// Options.IdleTimeout), the reader reconnects after the last complete
// fragment delivered, with its CONTINUATION_TOKEN, and drops fragments it
// already delivered. A fragment cut by the break is held back: the
// reconnect normally re-sends it whole, and only if it does not is the cut
// copy (Truncated, or without its GetMedia trailer) delivered.
//
// The read ends with io.EOF after Options.EmptyReconnects consecutive
// reconnects bring nothing new, after StopFragment, or at MaxDuration; it
// ends with the context's error when ctx ends.
func (c *Client) ReadLive(ctx context.Context, in Live) (*LiveReader, error) {
	if err := in.validate(); err != nil {
		return nil, fmt.Errorf("kvs: live read: %w", err)
	}
	r := &LiveReader{c: c, in: in, ctx: ctx}
	if in.MaxDuration > 0 {
		r.run, r.halt = context.WithTimeout(ctx, in.MaxDuration)
	} else {
		r.run, r.halt = context.WithCancel(ctx)
	}
	if in.Start.Type == StartFragmentNumber {
		if in.IncludeStartFragment {
			r.fetching = true
		} else {
			// An inclusive server would send the start fragment again.
			r.last = in.Start.FragmentNumber
		}
	}
	return r, nil
}

// Next returns the next fragment, or io.EOF at the end of the read. The
// fragment is valid until the next call to Next or Close. In-band error
// chunks are passed through.
func (r *LiveReader) Next() (*mkv.Fragment, error) {
	for {
		if len(r.queue) > 0 {
			f := r.queue[0]
			r.queue = r.queue[1:]
			return f, nil
		}
		if r.done != nil {
			return nil, r.done
		}
		if r.fr == nil {
			r.open()
			continue
		}
		f, err := r.fr.Next()
		if err != nil {
			r.endSession(err)
			continue
		}
		r.accept(f)
	}
}

// Close ends the read and releases its connection. It is safe to call more
// than once.
func (r *LiveReader) Close() error {
	r.closeSession()
	r.halt()
	r.queue, r.held = nil, nil
	if r.done == nil || r.done == io.EOF {
		r.done = errClosed
	}
	return nil
}

// open starts a session: the start-fragment fetch first if asked for, then
// GetMedia from where the read stands.
func (r *LiveReader) open() {
	sctx, cancel := context.WithCancel(r.run)
	sb := newSessionBody(r.c.opts.IdleTimeout, cancel)
	r.progress = false
	var body io.ReadCloser
	var err error
	if r.fetching {
		body, err = r.c.GetMediaForFragmentList(sctx, r.in.Stream, []string{r.in.Start.FragmentNumber})
	} else {
		r.sessions++
		body, err = r.c.GetMedia(sctx, r.in.Stream, r.selector())
	}
	if err != nil {
		sb.stop()
		idle := sctx.Err() != nil
		cancel()
		r.openFailed(err, idle)
		return
	}
	sb.r = body
	r.fr, r.body, r.sb, r.cancel = mkv.NewFragmentReader(sb), body, sb, cancel
}

// selector says where the next GetMedia starts: after the last complete
// fragment delivered, else after the last fragment delivered, else where
// the caller asked.
func (r *LiveReader) selector() StartSelector {
	switch {
	case r.token != "":
		return StartSelector{Type: StartContinuationToken, ContinuationToken: r.token}
	case r.last != "":
		return StartSelector{Type: StartFragmentNumber, FragmentNumber: r.last}
	}
	return r.in.Start
}

func (r *LiveReader) openFailed(err error, idle bool) {
	switch {
	case r.stopped():
	case r.fetching:
		// Archived media needs retention; without it GetMedia alone must do,
		// and an exclusive FRAGMENT_NUMBER then loses the start fragment.
		r.c.log.LogAttrs(r.ctx, slog.LevelWarn, "start fragment fetch failed; reading on with GetMedia",
			slog.String("stream", r.in.Stream.String()), slog.String("fragment", r.in.Start.FragmentNumber), slog.Any("error", err))
		r.fetching = false
	case idle:
		r.sessionEnded(errors.New("no response within the idle timeout"))
	default:
		r.end(err)
	}
}

// accept decides what to do with a fragment of the open session.
func (r *LiveReader) accept(f *mkv.Fragment) {
	n := f.FragmentNumber()
	if code, detail, ok := f.ErrorChunk(); ok {
		switch {
		case r.fetching:
			// GetMedia may still deliver the start fragment.
			r.c.log.LogAttrs(r.ctx, slog.LevelWarn, "start fragment fetch returned an error chunk",
				slog.String("fragment", n), slog.String("code", code), slog.String("detail", detail))
		case n == "":
			r.queue = append(r.queue, f)
		case (r.last == "" || mkv.CompareFragmentNumbers(n, r.last) > 0) &&
			(r.lastErr == "" || mkv.CompareFragmentNumbers(n, r.lastErr) > 0):
			// Error chunks do not move the resume point, so a reconnect
			// may send one again.
			r.queue = append(r.queue, f)
			r.lastErr = n
		}
		return
	}
	// GetMedia marks a fragment it sent whole with its trailer; the fetch
	// sends none, so there only the parser and the body can tell.
	whole := f.Complete()
	if r.fetching {
		whole = !f.Truncated && r.sb.broken() == nil
	}
	if n == "" {
		// Without a number it can be neither de-duplicated nor resumed
		// from. Cut, it holds no audio yet: the number precedes the Cluster.
		if whole {
			r.queue = append(r.queue, f)
		}
		return
	}
	if r.last != "" {
		switch c := mkv.CompareFragmentNumbers(n, r.last); {
		case c == 0 && r.token == "":
			// The last fragment delivered came without a token (the start
			// fragment from GetMediaForFragmentList, or a cut copy); its
			// re-sent copy has one. Resuming by token rather than by
			// FRAGMENT_NUMBER keeps an inclusive server from re-sending it
			// on every reconnect, at the cost of a session's bytes.
			r.token = resumeToken(f)
			return
		case c <= 0:
			return // delivered before the reconnect
		}
	}
	if r.in.StopFragment != "" && mkv.CompareFragmentNumbers(n, r.in.StopFragment) > 0 {
		r.finish()
		return
	}
	if r.held != nil {
		switch c := mkv.CompareFragmentNumbers(n, r.held.FragmentNumber()); {
		case c == 0 && !whole:
			if blockBytes(f) > blockBytes(r.held) {
				r.held = f.Clone()
				r.progress = true
			}
			return
		case c == 0:
			r.held = nil // the whole re-delivery replaces the cut copy
		case c > 0:
			// The service moved past the cut fragment without re-sending it.
			r.deliver(r.held)
			r.held = nil
		case !whole:
			return // cut and out of order: nothing sound to do with it
		}
	}
	if !whole {
		r.held = f.Clone()
		r.progress = true
		return
	}
	r.deliver(f)
	if r.in.StopFragment != "" && mkv.CompareFragmentNumbers(n, r.in.StopFragment) == 0 {
		r.finish()
	}
}

func (r *LiveReader) deliver(f *mkv.Fragment) {
	r.queue = append(r.queue, f)
	r.last = f.FragmentNumber()
	r.progress = true
	// Without a token of its own, resuming by fragment number is better
	// than by the token of an earlier fragment.
	r.token = resumeToken(f)
}

// resumeToken returns the continuation token of a complete fragment, or "".
func resumeToken(f *mkv.Fragment) string {
	if tok, _ := f.Tag(mkv.TagContinuationToken); f.Complete() && tokenPattern.MatchString(tok) {
		return tok
	}
	return ""
}

// endSession handles the end of the open session's body: readErr is io.EOF
// (breaks included, see sessionBody), a syntax error wrapping
// io.ErrUnexpectedEOF when the body ended inside the EBML header of the
// next fragment, or another syntax error.
func (r *LiveReader) endSession(readErr error) {
	broken := r.sb.broken()
	r.closeSession()
	switch {
	case readErr != io.EOF && !errors.Is(readErr, io.ErrUnexpectedEOF):
		r.end(fmt.Errorf("kvs: %s: %w", opGetMedia, readErr))
	case r.stopped():
	case r.fetching:
		if broken != nil && r.last == "" && r.fetchTries+1 < r.c.opts.MaxAttempts {
			r.fetchTries++
			if err := sleep(r.run, r.c.backoff(r.fetchTries)); err != nil {
				r.stopped()
			}
			return
		}
		r.fetching = false
	default:
		r.sessionEnded(broken)
	}
}

// sessionEnded counts a GetMedia session that ended and decides whether to
// reconnect. cause is why it ended early, nil for a clean end.
func (r *LiveReader) sessionEnded(cause error) {
	switch {
	case r.progress:
		r.empty = 0
	case r.sessions > 1:
		r.empty++
	}
	attrs := []slog.Attr{
		slog.String("stream", r.in.Stream.String()), slog.String("last", r.last),
		slog.Bool("progress", r.progress), slog.Int("empty", r.empty),
	}
	if cause != nil {
		attrs = append(attrs, slog.Any("cause", cause))
	}
	if r.empty >= r.c.opts.EmptyReconnects {
		r.c.log.LogAttrs(r.ctx, slog.LevelDebug, "stream has nothing more; ending read", attrs...)
		r.finish()
		return
	}
	level := slog.LevelDebug
	if cause != nil {
		level = slog.LevelInfo
	}
	r.c.log.LogAttrs(r.ctx, level, "GetMedia session ended; reconnecting", attrs...)
	if !r.progress {
		if err := sleep(r.run, r.c.opts.ReconnectDelay); err != nil {
			r.stopped()
		}
	}
}

// stopped ends the read if the caller's context or MaxDuration ended it.
func (r *LiveReader) stopped() bool {
	if err := r.ctx.Err(); err != nil {
		r.end(fmt.Errorf("kvs: live read: %w", err))
		return true
	}
	if r.run.Err() != nil {
		r.finish()
		return true
	}
	return false
}

// finish ends the read normally; a held fragment that was never re-sent
// whole goes out first, cut as it is.
func (r *LiveReader) finish() {
	if r.held != nil {
		r.queue = append(r.queue, r.held)
		r.held = nil
	}
	r.end(io.EOF)
}

func (r *LiveReader) end(err error) {
	r.closeSession()
	r.halt()
	r.done = err
}

func (r *LiveReader) closeSession() {
	if r.fr == nil {
		return
	}
	r.sb.stop()
	r.cancel()
	r.body.Close()
	r.fr, r.body, r.sb, r.cancel = nil, nil, nil, nil
}
