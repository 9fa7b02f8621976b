package sherpa

import (
	"context"
	"sync"
)

// pool keeps loaded recognisers for reuse: loading one reads the whole
// model and builds onnxruntime sessions, far more work than decoding an
// utterance. It creates recognisers lazily, up to max, and makes callers
// wait when all are in use.
type pool struct {
	newRecognizer func() (recognizer, error)
	// slots holds one token per recogniser that exists or is being
	// loaded, so that at most cap(slots) ever exist at once.
	slots chan struct{}
	idle  chan recognizer

	mu      sync.Mutex
	closed  bool
	created int // recognisers loaded over the pool's life, for tests
}

func newPool(max int, newRecognizer func() (recognizer, error)) *pool {
	return &pool{
		newRecognizer: newRecognizer,
		slots:         make(chan struct{}, max),
		idle:          make(chan recognizer, max),
	}
}

// get returns an idle recogniser, loads a new one if fewer than max exist,
// or waits for one to be put back.
func (p *pool) get(ctx context.Context) (recognizer, error) {
	if p.isClosed() {
		return nil, ErrClosed
	}
	// An idle recogniser is always preferred to loading another.
	select {
	case r := <-p.idle:
		return r, nil
	default:
	}
	select {
	case r := <-p.idle:
		return r, nil
	case p.slots <- struct{}{}:
		r, err := p.newRecognizer()
		if err != nil {
			<-p.slots
			return nil, err
		}
		p.mu.Lock()
		p.created++
		p.mu.Unlock()
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// put returns a recogniser to the pool, or frees it if the pool is closed.
func (p *pool) put(r recognizer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		r.free()
		<-p.slots
		return
	}
	p.idle <- r // never blocks: at most cap(idle) recognisers exist
}

// close frees the idle recognisers; put frees the others as they come back.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for {
		select {
		case r := <-p.idle:
			r.free()
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

// loaded returns how many recognisers the pool has loaded in its life.
func (p *pool) loaded() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.created
}
