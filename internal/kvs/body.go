package kvs

import (
	"io"
	"time"

	"github.com/vmx-dev/vmx/internal/mkv"
)

// bodyBreak reports a response body that failed mid-read. It deliberately
// has no Unwrap: the HTTP client reports a connection cut inside a chunked
// body as io.ErrUnexpectedEOF, which mkv.FragmentReader takes for a stream
// that simply ended inside a fragment. Hiding the cause keeps a broken body
// an error instead of a quietly truncated fragment.
type bodyBreak struct{ cause error }

func (e *bodyBreak) Error() string { return "response body broke: " + e.cause.Error() }

// breakReader turns read errors other than io.EOF into *bodyBreak.
type breakReader struct{ r io.Reader }

func (b breakReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = &bodyBreak{err}
	}
	return n, err
}

// sessionBody is a GetMedia body seen as a clean end of input even when it
// breaks, so that mkv.FragmentReader hands over the fragment the break cut
// (marked Truncated or lacking its trailer) for the live reader to hold.
// It also ends a session that stays silent for the idle timeout, by calling
// onIdle, which cancels the request.
type sessionBody struct {
	r    io.Reader // the response body
	idle time.Duration
	tmr  *time.Timer // nil without an idle timeout
	err  error       // the break, if any
}

// newSessionBody starts the idle timer before the request is sent, so that
// a request the service never answers is cut as well; set r once the
// response arrives.
func newSessionBody(idle time.Duration, onIdle func()) *sessionBody {
	b := &sessionBody{idle: idle}
	if idle > 0 {
		b.tmr = time.AfterFunc(idle, onIdle)
	}
	return b
}

func (b *sessionBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 && b.tmr != nil {
		b.tmr.Reset(b.idle)
	}
	if err != nil && err != io.EOF {
		b.err = err
		err = io.EOF
	}
	return n, err
}

// broken returns the error that ended the body early, or nil. Only the
// goroutine that reads calls it; the idle timer merely cancels the request.
func (b *sessionBody) broken() error { return b.err }

func (b *sessionBody) stop() {
	if b.tmr != nil {
		b.tmr.Stop()
	}
}

// blockBytes is the payload f carries: how much of a cut fragment arrived.
func blockBytes(f *mkv.Fragment) int {
	n := 0
	for _, b := range f.Blocks {
		n += len(b.Data)
	}
	return n
}
