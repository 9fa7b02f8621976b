package recording

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/kvssim"
)

// BenchmarkConcurrentRecordings records calls at once from an archived
// simulator (the stream as fast as it can be read) and reports the heap
// each recording kept live at the peak: it stays flat however long the calls,
// since the audio goes to temp files and is streamed into the blob store.
func BenchmarkConcurrentRecordings(b *testing.B) {
	for _, tc := range []struct {
		calls   int
		seconds float64
	}{{16, 30}, {16, 120}, {64, 30}} {
		b.Run(fmt.Sprintf("calls=%d/seconds=%g", tc.calls, tc.seconds), func(b *testing.B) {
			from, to := call(tc.seconds, 2, 1)
			s := newSim(b, kvssim.Options{})
			var bodies []string
			for i := range tc.calls {
				id := fmt.Sprintf("contact-%03d", i)
				arn, frags := s.stream(b, fmt.Sprintf("s%d", i), kvssim.FromPCM(from, to, kvssim.Contact{ContactID: id}))
				bodies = append(bodies, startBody(id, arn, frags[0].Number, `"stereo":true`))
			}
			var peak uint64
			for range b.N {
				b.StopTimer()
				e := newEnv(b, s, Config{MaxConcurrent: tc.calls}, nil)
				reqs := make([]Request, len(bodies))
				for i, body := range bodies {
					r, err := ParseRequest([]byte(body), e.cfg, time.Now())
					if err != nil {
						b.Fatal(err)
					}
					reqs[i] = r
				}
				runtime.GC()
				base := heapInUse()
				stop := sampleHeap(&peak, base)
				b.StartTimer()

				var wg sync.WaitGroup
				for _, r := range reqs {
					wg.Go(func() {
						st, err := e.rec.Record(context.Background(), r)
						if err != nil || st.State != StateCompleted || len(st.Files) != 3 {
							b.Errorf("%s: %+v %v", r.ContactID, st, err)
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				stop()
				b.StartTimer()
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(peak)/float64(tc.calls)/(1<<10), "heap-KB/recording")
		})
	}
}

// heapInUse is the live heap as of the last garbage collection: what
// the recordings hold, without the garbage they leave.
func heapInUse() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// sampleHeap keeps in peak the highest live heap above base until stop
// is called, collecting garbage every 20 ms to measure it (which slows the
// recordings down: read call-s/s from a run without it).
func sampleHeap(peak *uint64, base uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.GC()
			if h := heapInUse(); h > base && h-base > *peak {
				*peak = h - base
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
