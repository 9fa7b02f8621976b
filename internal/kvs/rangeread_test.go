package kvs

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"
)

func TestReadRange(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     int   // fragments in the stream
		errAt []int // fragments GetMediaForFragmentList cannot serve
		setup func(*fakeKVS)
		// rng builds the range from the stream.
		rng func(fr []*fakeFragment) Range
		// want lists the fragments expected, in order.
		want func(fr []*fakeFragment) []*fakeFragment
		// batches are the sizes of the GetMediaForFragmentList calls.
		batches []int
	}{
		{
			name:  "multi-page unordered listing trimmed to the fragment bounds",
			n:     40,
			setup: func(f *fakeKVS) { f.pageSize = 7 },
			rng: func(fr []*fakeFragment) Range {
				return Range{StartFragment: fr[8].number, StopFragment: fr[25].number, StartTime: fr[8].server, StopTime: fr[25].server}
			},
			want:    func(fr []*fakeFragment) []*fakeFragment { return fr[8:26] },
			batches: []int{18},
		},
		{
			name: "bounds the listing missed are added",
			n:    30,
			rng: func(fr []*fakeFragment) Range {
				// Fragments are 1.024 s apart, so the listing padded by 1 s
				// covers 10..20 only; the bounds are 2 and 27.
				return Range{StartFragment: fr[2].number, StopFragment: fr[27].number, StartTime: fr[10].server, StopTime: fr[20].server}
			},
			want: func(fr []*fakeFragment) []*fakeFragment {
				return slices.Concat(fr[2:3], fr[10:21], fr[27:28])
			},
			batches: []int{13},
		},
		{
			name: "time range only, stream name",
			n:    12,
			rng: func(fr []*fakeFragment) Range {
				return Range{Stream: Stream{Name: "vmx-stream"}, StartTime: fr[3].server, StopTime: fr[6].server}
			},
			want:    func(fr []*fakeFragment) []*fakeFragment { return fr[3:7] },
			batches: []int{4},
		},
		{
			name: "more than 1000 fragments in batches",
			n:    2345,
			rng: func(fr []*fakeFragment) Range {
				return Range{StartFragment: fr[0].number, StopFragment: fr[2344].number, StartTime: fr[0].server, StopTime: fr[2344].server}
			},
			want:    func(fr []*fakeFragment) []*fakeFragment { return fr },
			batches: []int{1000, 1000, 345},
		},
		{
			name:  "error chunks passed through in place",
			n:     10,
			errAt: []int{4, 9},
			rng: func(fr []*fakeFragment) Range {
				return Range{StartFragment: fr[1].number, StopFragment: fr[9].number, StartTime: fr[1].server, StopTime: fr[9].server}
			},
			want:    func(fr []*fakeFragment) []*fakeFragment { return fr[1:10] },
			batches: []int{9},
		},
		{
			name: "broken body: the rest of the batch is requested again",
			n:    20,
			setup: func(f *fakeKVS) {
				f.listCuts = []cut{{frag: 7, at: midBlock, abort: true}, {frag: 12, at: inHeader, abort: true}}
			},
			rng: func(fr []*fakeFragment) Range {
				return Range{StartFragment: fr[0].number, StopFragment: fr[19].number, StartTime: fr[0].server, StopTime: fr[19].server}
			},
			want: func(fr []*fakeFragment) []*fakeFragment { return fr },
			// Cut in the header of 12, the reader cannot know that 11 was
			// finished: it is requested again with the rest.
			batches: []int{20, 13, 8},
		},
		{
			name: "body ending early and cleanly: the rest is requested again",
			n:    12,
			setup: func(f *fakeKVS) {
				f.listCuts = []cut{{frag: 5, at: midBlock}, {frag: 9, at: atStart}}
			},
			rng: func(fr []*fakeFragment) Range {
				return Range{StartFragment: fr[0].number, StopFragment: fr[11].number, StartTime: fr[0].server, StopTime: fr[11].server}
			},
			want:    func(fr []*fakeFragment) []*fakeFragment { return fr },
			batches: []int{12, 7, 3},
		},
		{
			name: "no time range: GetMedia from the start fragment to the stop fragment",
			n:    15,
			rng: func(fr []*fakeFragment) Range {
				return Range{StartFragment: fr[3].number, StopFragment: fr[9].number}
			},
			want:    func(fr []*fakeFragment) []*fakeFragment { return fr[3:10] },
			batches: []int{1}, // the start fragment, fetched on its own
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frags := makeStream(t, tc.n)
			for _, i := range tc.errAt {
				frags[i].errChunk = true
			}
			fk := newFakeKVS(t, frags)
			if tc.setup != nil {
				tc.setup(fk)
			}
			c := fk.client(t, nil)
			r := tc.rng(frags)
			if r.Stream == (Stream{}) {
				r.Stream = Stream{ARN: testARN}
			}
			got, err := readRangeAll(t, c, r)
			if err != nil {
				t.Fatal(err)
			}
			if d := got.diff(expect(t, listOf(tc.want(frags))...)); d != "" {
				t.Error(d)
			}
			var sizes []int
			for _, b := range fk.batches {
				sizes = append(sizes, len(b))
			}
			if !slices.Equal(sizes, tc.batches) {
				t.Errorf("GetMediaForFragmentList batch sizes %v, want %v", sizes, tc.batches)
			}
		})
	}
}

func TestReadRangeInvalid(t *testing.T) {
	fk := newFakeKVS(t, nil)
	c := fk.client(t, nil)
	now := time.Now()
	for name, r := range map[string]Range{
		"no stream":            {StartTime: now},
		"nothing to start at":  {Stream: Stream{ARN: testARN}},
		"stop time only":       {Stream: Stream{ARN: testARN}, StartFragment: "1", StopTime: now},
		"bad fragment number":  {Stream: Stream{ARN: testARN}, StartFragment: "12a"},
		"start after stop":     {Stream: Stream{ARN: testARN}, StartFragment: "100", StopFragment: "99"},
		"stop before start":    {Stream: Stream{ARN: testARN}, StartTime: now, StopTime: now.Add(-time.Second)},
		"start fragment empty": {Stream: Stream{ARN: testARN}, StopFragment: "5"},
	} {
		if _, err := c.ReadRange(context.Background(), r); err == nil {
			t.Errorf("%s: ReadRange succeeded", name)
		}
	}
	if n := fk.callCount("listFragments"); n != 0 {
		t.Errorf("invalid ranges sent %d requests", n)
	}
}

func TestReadRangeGivesUpOnBrokenBodies(t *testing.T) {
	frags := makeStream(t, 5)
	fk := newFakeKVS(t, frags)
	for range 10 {
		fk.listCuts = append(fk.listCuts, cut{frag: 2, at: midBlock, abort: true})
	}
	c := fk.client(t, nil)
	got, err := readRangeAll(t, c, Range{Stream: Stream{ARN: testARN}, StartTime: frags[0].server, StopTime: frags[4].server})
	var brk *bodyBreak
	if !errors.As(err, &brk) {
		t.Fatalf("got %v, want a broken-body error", err)
	}
	if len(got.entries) != 2 {
		t.Errorf("delivered %v before failing, want the 2 fragments before the cut", got.entries)
	}
	if n := fk.callCount("getMediaForFragmentList"); n != 4 {
		t.Errorf("%d GetMediaForFragmentList calls, want MaxAttempts = 4", n)
	}
}

func TestRangeReaderClose(t *testing.T) {
	frags := makeStream(t, 5)
	fk := newFakeKVS(t, frags)
	c := fk.client(t, nil)
	rr, err := c.ReadRange(context.Background(), Range{Stream: Stream{ARN: testARN}, StartTime: frags[0].server, StopTime: frags[4].server})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rr.Next(); err != nil {
		t.Fatal(err)
	}
	rr.Close()
	rr.Close()
	if _, err := rr.Next(); err == nil || err == io.EOF {
		t.Errorf("Next after Close = %v, want an error", err)
	}
	// The bodies-closed check in the client's cleanup covers the rest.
}
