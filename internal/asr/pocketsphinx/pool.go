package pocketsphinx

import (
	"context"
	"sync"
)

// pool keeps loaded decoders for reuse: loading one takes ≈ 0.6 s and
// ≈ 150 MB, far more than decoding a short voicemail. It creates decoders
// lazily, up to max, and makes callers wait when all are in use.
type pool struct {
	newDecoder func() (decoder, error)
	// slots holds one token per decoder that exists or is being loaded,
	// so that at most cap(slots) ever exist at once.
	slots chan struct{}
	idle  chan decoder

	mu      sync.Mutex
	closed  bool
	created int // decoders loaded over the pool's life, for tests and metrics
}

func newPool(max int, newDecoder func() (decoder, error)) *pool {
	return &pool{
		newDecoder: newDecoder,
		slots:      make(chan struct{}, max),
		idle:       make(chan decoder, max),
	}
}

// get returns an idle decoder, loads a new one if fewer than max exist, or
// waits for one to be put back.
func (p *pool) get(ctx context.Context) (decoder, error) {
	if p.isClosed() {
		return nil, ErrClosed
	}
	// An idle decoder is always preferred to loading another.
	select {
	case d := <-p.idle:
		return d, nil
	default:
	}
	select {
	case d := <-p.idle:
		return d, nil
	case p.slots <- struct{}{}:
		d, err := p.newDecoder()
		if err != nil {
			<-p.slots
			return nil, err
		}
		p.mu.Lock()
		p.created++
		p.mu.Unlock()
		return d, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// put returns a decoder to the pool, or frees it if the pool is closed.
func (p *pool) put(d decoder) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		d.free()
		<-p.slots
		return
	}
	p.idle <- d // never blocks: at most cap(idle) decoders exist
}

// discard frees a decoder that failed, making room for a fresh one.
func (p *pool) discard(d decoder) {
	d.free()
	<-p.slots
}

// close frees the idle decoders; put frees the others as they come back.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for {
		select {
		case d := <-p.idle:
			d.free()
			<-p.slots
		default:
			return
		}
	}
}

func (p *pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// loaded returns how many decoders the pool has loaded in its life.
func (p *pool) loaded() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.created
}
