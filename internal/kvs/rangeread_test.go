package kvs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/mkv"
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
			// Cut 5 bytes into 12, its EBML header's ID and size arrived:
			// 11 is known finished and only 12 on is requested again.
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
	at := time.Date(2026, 1, 1, 9, 30, 0, 0, time.UTC)
	future := time.Now().Add(time.Hour).Truncate(time.Second)
	for name, tc := range map[string]struct {
		r    Range
		says string
	}{
		"no stream":            {Range{StartTime: at}, "stream ARN or name required"},
		"nothing to start at":  {Range{Stream: Stream{ARN: testARN}}, "need a start time, a stop time or a start fragment"},
		"bad fragment number":  {Range{Stream: Stream{ARN: testARN}, StartFragment: "12a"}, `invalid fragment number "12a"`},
		"start after stop":     {Range{Stream: Stream{ARN: testARN}, StartFragment: "100", StopFragment: "99"}, "start fragment 100 after stop fragment 99"},
		"stop before start":    {Range{Stream: Stream{ARN: testARN}, StartTime: at, StopTime: at.Add(-time.Second)}, "start time 2026-01-01T09:30:00Z is after stop time 2026-01-01T09:29:59Z"},
		"start fragment empty": {Range{Stream: Stream{ARN: testARN}, StopFragment: "5"}, "need a start time"},
		"future start, no stop": {Range{Stream: Stream{ARN: testARN}, StartTime: future},
			"start time " + future.UTC().Format(time.RFC3339) + " is in the future (now "},
		"stop before creation": {Range{Stream: Stream{ARN: testARN}, StopTime: time.UnixMilli(1736282293468 - 1000)},
			"stop time 2025-01-07T20:38:12.468Z is before the stream was created (2025-01-07T20:38:13.468Z)"},
	} {
		_, err := c.ReadRange(context.Background(), tc.r)
		if err == nil || !strings.Contains(err.Error(), tc.says) || strings.Contains(err.Error(), "m=+") {
			t.Errorf("%s: ReadRange error %v, want one saying %q", name, err, tc.says)
		}
	}
	if n := fk.callCount("listFragments"); n != 0 {
		t.Errorf("invalid ranges sent %d requests", n)
	}
}

// A stop time alone lists from the stream's creation, which its ARN gives,
// or from the Unix epoch for a stream known by name.
func TestReadRangeStopTimeOnly(t *testing.T) {
	frags := makeStream(t, 10)
	for _, tc := range []struct {
		stream    Stream
		listStart float64
	}{
		{Stream{ARN: testARN}, 1736282293.468},
		{Stream{Name: "vmx-stream"}, 0},
	} {
		fk := newFakeKVS(t, frags)
		c := fk.client(t, nil)
		got, err := readRangeAll(t, c, Range{Stream: tc.stream, StopTime: frags[5].server})
		if err != nil {
			t.Fatal(err)
		}
		if d := got.diff(expect(t, listOf(frags[:6])...)); d != "" {
			t.Errorf("%s: %s", tc.stream, d)
		}
		if ts := fk.listReqs[0]["FragmentSelector"].(map[string]any)["TimestampRange"].(map[string]any)["StartTimestamp"]; ts != tc.listStart {
			t.Errorf("%s: ListFragments StartTimestamp %v, want %v", tc.stream, ts, tc.listStart)
		}
	}
}

func TestListFragmentsInvalidRange(t *testing.T) {
	fk := newFakeKVS(t, nil)
	c := fk.client(t, nil)
	start := time.Date(2026, 12, 31, 23, 59, 55, 0, time.UTC)
	_, err := c.ListFragments(context.Background(), Stream{ARN: testARN}, FragmentSelector{Type: ServerTimestamp, Start: start, End: start.Add(-time.Minute - time.Millisecond)})
	if want := "kvs: ListFragments: invalid time range 2026-12-31T23:59:55Z to 2026-12-31T23:58:54.999Z"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
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

// A fragment KVS stores cut is served cut on every attempt: after the last
// one its complete blocks are delivered, marked Truncated, and the read goes
// on with the rest of the batch.
func TestReadRangeKeepsStoredTruncatedFragment(t *testing.T) {
	frags := makeStream(t, 8)
	for _, i := range []int{3, 7} {
		f := frags[i]
		f.list = f.list[:bytes.Index(f.list, f.from[:16])+5] // inside a block
	}
	fk := newFakeKVS(t, frags)
	c := fk.client(t, nil)
	got, err := readRangeAll(t, c, Range{Stream: Stream{ARN: testARN}, StartTime: frags[0].server, StopTime: frags[7].server})
	if err != nil {
		t.Fatal(err)
	}
	// Each fragment on its own: in one body, the cut block of fragment 3
	// would take in the start of fragment 4.
	want, err := drain(&eachAlone{parts: listOf(frags)})
	if err != nil {
		t.Fatal(err)
	}
	if d := got.diff(want); d != "" {
		t.Error(d)
	}
	if e := got.entries; len(e) != 8 || !strings.HasSuffix(e[3], "!") || !strings.HasSuffix(e[7], "!") {
		t.Errorf("entries %v, want 8 with the 4th and the last truncated", short(e))
	}
	var sizes []int
	for _, b := range fk.batches {
		sizes = append(sizes, len(b))
	}
	// MaxAttempts is 4: the batch, the rest twice, fragment 3 alone, the
	// rest, then fragment 7 three times more.
	if want := []int{8, 5, 5, 1, 4, 1, 1, 1}; !slices.Equal(sizes, want) {
		t.Errorf("GetMediaForFragmentList batch sizes %v, want %v", sizes, want)
	}
}

// eachAlone parses each part with a reader of its own.
type eachAlone struct {
	parts [][]byte
	fr    *mkv.FragmentReader
}

func (e *eachAlone) Next() (*mkv.Fragment, error) {
	for {
		if e.fr == nil {
			if len(e.parts) == 0 {
				return nil, io.EOF
			}
			e.fr, e.parts = mkv.NewFragmentReader(bytes.NewReader(e.parts[0])), e.parts[1:]
		}
		f, err := e.fr.Next()
		if err != io.EOF {
			return f, err
		}
		e.fr = nil
	}
}
