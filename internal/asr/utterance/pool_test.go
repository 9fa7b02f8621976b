package utterance

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// counted is a pool of ints that counts its loads and frees.
type counted struct {
	loads, frees atomic.Int32
	loadErr      error
}

func (c *counted) pool(max int) *Pool[int] {
	return NewPool("test", max,
		func() (int, error) {
			if c.loadErr != nil {
				return 0, c.loadErr
			}
			return int(c.loads.Add(1)), nil
		},
		func(int) { c.frees.Add(1) })
}

func TestPoolReusesAndBounds(t *testing.T) {
	var c counted
	p := c.pool(2)
	if err := p.Preload(); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		d, err := p.Get(context.Background())
		if err != nil || d != 1 {
			t.Fatalf("Get = %d, %v; want the preloaded decoder", d, err)
		}
		p.Put(d)
	}
	if n := p.Loaded(); n != 1 {
		t.Errorf("5 sequential uses loaded %d decoders, want 1", n)
	}

	// Eight at once, each slow enough to overlap: never more than two
	// decoders, each used by one goroutine at a time.
	var busy [3]atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			d, err := p.Get(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			if busy[d].Add(1) != 1 {
				t.Errorf("decoder %d lent twice at once", d)
			}
			for range 200 {
				runtime.Gosched()
			}
			busy[d].Add(-1)
			p.Put(d)
		})
	}
	wg.Wait()
	if n := p.Loaded(); n > 2 || int(c.loads.Load()) != n {
		t.Errorf("%d decoders loaded (pool counted %d) with max 2", c.loads.Load(), n)
	}
}

func TestPoolGetWaits(t *testing.T) {
	var c counted
	p := c.pool(1)
	held, err := p.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := p.Get(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get with all decoders busy: %v", err)
	}
	got := make(chan int)
	go func() {
		d, err := p.Get(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- d
	}()
	time.Sleep(5 * time.Millisecond)
	p.Put(held)
	if d := <-got; d != held || c.loads.Load() != 1 {
		t.Errorf("waiter got %d after %d loads, want the decoder put back", d, c.loads.Load())
	}
}

// A failed load or a discarded decoder gives its slot back.
func TestPoolLoadErrorAndDiscard(t *testing.T) {
	c := counted{loadErr: errors.New("out of memory")}
	p := c.pool(1)
	for range 3 {
		if err := p.Preload(); !errors.Is(err, c.loadErr) {
			t.Fatalf("Preload = %v", err)
		}
	}
	c.loadErr = nil
	d, err := p.Get(context.Background())
	if err != nil {
		t.Fatalf("after failed loads: %v", err)
	}
	p.Discard(d)
	if d2, err := p.Get(context.Background()); err != nil || d2 == d {
		t.Errorf("after Discard: %d, %v; want a fresh decoder", d2, err)
	}
	if c.frees.Load() != 1 || p.Loaded() != 2 {
		t.Errorf("%d frees, %d loads", c.frees.Load(), p.Loaded())
	}
}

func TestPoolClose(t *testing.T) {
	var c counted
	p := c.pool(3)
	a, _ := p.Get(context.Background())
	b, _ := p.Get(context.Background())
	p.Put(b)
	p.Close()
	p.Close() // idempotent
	if n := c.frees.Load(); n != 1 {
		t.Errorf("Close freed %d decoders, want the 1 idle one", n)
	}
	_, err := p.Get(context.Background())
	if !errors.Is(err, ErrClosed) || err.Error() != "test: engine closed" {
		t.Errorf("Get after Close: %v", err)
	}
	// The decoder in use is freed when it comes back.
	p.Put(a)
	if n := c.frees.Load(); n != 2 {
		t.Errorf("%d of 2 decoders freed", n)
	}
}
