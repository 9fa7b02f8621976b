package utterance

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrClosed is wrapped, with the engine's name, by Pool.Get after Close,
// and so by an engine's Transcribe after the engine is closed.
var ErrClosed = errors.New("engine closed")

// Pool keeps loaded decoders for reuse: loading one (a PocketSphinx
// decoder, a sherpa-onnx recogniser) costs far more than decoding a short
// voicemail. It loads decoders lazily, up to a maximum, and makes callers
// wait when all are in use. It is safe for concurrent use; a decoder it
// hands out is used by one goroutine until it is put back.
type Pool[D any] struct {
	name string
	load func() (D, error)
	free func(D)
	// slots holds one token per decoder that exists or is being loaded,
	// so that at most cap(slots) ever exist at once.
	slots chan struct{}
	idle  chan D

	mu      sync.Mutex
	closed  bool
	created int // decoders loaded over the pool's life, for tests and metrics
}

// NewPool returns an empty pool of at most max decoders, which load
// creates and free releases. name is the engine's, for ErrClosed.
func NewPool[D any](name string, max int, load func() (D, error), free func(D)) *Pool[D] {
	return &Pool[D]{
		name:  name,
		load:  load,
		free:  free,
		slots: make(chan struct{}, max),
		idle:  make(chan D, max),
	}
}

// Preload loads one decoder and keeps it idle, so that a configuration the
// decoder's library rejects fails when the engine is built rather than at
// the first voicemail.
func (p *Pool[D]) Preload() error {
	d, err := p.Get(context.Background())
	if err != nil {
		return err
	}
	p.Put(d)
	return nil
}

// Get returns an idle decoder, loads a new one if fewer than max exist, or
// waits for one to be put back until ctx ends. The caller must hand the
// decoder back with Put or Discard.
func (p *Pool[D]) Get(ctx context.Context) (D, error) {
	var zero D
	if p.isClosed() {
		return zero, fmt.Errorf("%s: %w", p.name, ErrClosed)
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
		d, err := p.load()
		if err != nil {
			<-p.slots
			return zero, err
		}
		p.mu.Lock()
		p.created++
		p.mu.Unlock()
		return d, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// Put returns a decoder to the pool, or frees it if the pool is closed.
func (p *Pool[D]) Put(d D) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		p.free(d)
		<-p.slots
		return
	}
	p.idle <- d // never blocks: at most cap(idle) decoders exist
}

// Discard frees a decoder that failed, making room for a fresh one: a
// decoder that failed mid-utterance may be in any state.
func (p *Pool[D]) Discard(d D) {
	p.free(d)
	<-p.slots
}

// Close frees the idle decoders; Put frees the others as they come back,
// and Get fails with ErrClosed from now on. Close is idempotent.
func (p *Pool[D]) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for {
		select {
		case d := <-p.idle:
			p.free(d)
			<-p.slots
		default:
			return
		}
	}
}

func (p *Pool[D]) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// Loaded returns how many decoders the pool has loaded in its life.
func (p *Pool[D]) Loaded() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.created
}
