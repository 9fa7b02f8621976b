package kvs

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestReadLive(t *testing.T) {
	breaks := func(abort bool) []cut {
		return []cut{
			{frag: 2, at: midBlock, abort: abort},
			{frag: 4, at: inHeader, abort: abort},
			{frag: 6, at: inTrailer, abort: abort},
			{frag: 8, at: atStart, abort: abort},
			{frag: 10, at: midMetaTag, abort: abort},
		}
	}
	// After each break the reader resumes after the last complete fragment.
	breakSelectors := func(fr []*fakeFragment) []string {
		return []string{"EARLIEST",
			"CONTINUATION_TOKEN " + fr[1].number, "CONTINUATION_TOKEN " + fr[3].number,
			"CONTINUATION_TOKEN " + fr[5].number, "CONTINUATION_TOKEN " + fr[7].number,
			"CONTINUATION_TOKEN " + fr[9].number,
			// Two empty reconnects end the read.
			"CONTINUATION_TOKEN " + fr[13].number, "CONTINUATION_TOKEN " + fr[13].number,
		}
	}
	for _, tc := range []struct {
		name  string
		n     int
		errAt []int
		setup func(*fakeKVS)
		live  func(fr []*fakeFragment) Live
		// want returns the stream bytes whose parse the reader must match.
		want          func(fr []*fakeFragment) [][]byte
		wantSelectors func(fr []*fakeFragment) []string
	}{
		{
			name: "one session",
			n:    8,
			live: func([]*fakeFragment) Live { return Live{Start: StartSelector{Type: StartEarliest}} },
			want: func(fr []*fakeFragment) [][]byte { return mediaOf(fr) },
			wantSelectors: func(fr []*fakeFragment) []string {
				return []string{"EARLIEST", "CONTINUATION_TOKEN " + fr[7].number, "CONTINUATION_TOKEN " + fr[7].number}
			},
		},
		{
			name:          "connection resets mid-block, in a header, in a trailer, at a boundary, in the number tag",
			n:             14,
			setup:         func(f *fakeKVS) { f.mediaCuts = breaks(true) },
			live:          func([]*fakeFragment) Live { return Live{Start: StartSelector{Type: StartEarliest}} },
			want:          func(fr []*fakeFragment) [][]byte { return mediaOf(fr) },
			wantSelectors: breakSelectors,
		},
		{
			name:          "sessions ending cleanly at the same places",
			n:             14,
			setup:         func(f *fakeKVS) { f.mediaCuts = breaks(false) },
			live:          func([]*fakeFragment) Live { return Live{Start: StartSelector{Type: StartEarliest}} },
			want:          func(fr []*fakeFragment) [][]byte { return mediaOf(fr) },
			wantSelectors: breakSelectors,
		},
		{
			name: "connection resets, server re-sends the token's fragment",
			n:    14,
			setup: func(f *fakeKVS) {
				f.mediaCuts = breaks(true)
				f.tokenInclusive = true
			},
			live: func([]*fakeFragment) Live { return Live{Start: StartSelector{Type: StartEarliest}} },
			want: func(fr []*fakeFragment) [][]byte { return mediaOf(fr) },
		},
		{
			name:  "sessions limited to two and a half fragments",
			n:     12,
			setup: func(f *fakeKVS) { f.sessionLimit = len(f.frags[0].media) * 5 / 2 },
			live:  func([]*fakeFragment) Live { return Live{Start: StartSelector{Type: StartEarliest}} },
			want:  func(fr []*fakeFragment) [][]byte { return mediaOf(fr) },
		},
		{
			name: "the same fragment cut twice, longer the second time",
			n:    8,
			setup: func(f *fakeKVS) {
				f.mediaCuts = []cut{{frag: 5, at: midBlock, abort: true}, {frag: 5, at: inTrailer, abort: true}}
			},
			live: func([]*fakeFragment) Live { return Live{Start: StartSelector{Type: StartEarliest}} },
			want: func(fr []*fakeFragment) [][]byte { return mediaOf(fr) },
		},
		{
			name:  "producer died mid-fragment: the cut fragment is delivered last",
			n:     6,
			setup: func(f *fakeKVS) { f.tail = midBlock(f.frags[5]) },
			live:  func([]*fakeFragment) Live { return Live{Start: StartSelector{Type: StartEarliest}} },
			want: func(fr []*fakeFragment) [][]byte {
				return append(mediaOf(fr[:5]), fr[5].media[:midBlock(fr[5])])
			},
		},
		{
			name: "stop fragment",
			n:    10,
			live: func(fr []*fakeFragment) Live {
				return Live{Start: StartSelector{Type: StartEarliest}, StopFragment: fr[6].number}
			},
			want:          func(fr []*fakeFragment) [][]byte { return mediaOf(fr[:7]) },
			wantSelectors: func([]*fakeFragment) []string { return []string{"EARLIEST"} },
		},
		{
			name:  "stop fragment cut, then re-sent whole",
			n:     10,
			setup: func(f *fakeKVS) { f.mediaCuts = []cut{{frag: 6, at: midBlock, abort: true}} },
			live: func(fr []*fakeFragment) Live {
				return Live{Start: StartSelector{Type: StartEarliest}, StopFragment: fr[6].number}
			},
			want: func(fr []*fakeFragment) [][]byte { return mediaOf(fr[:7]) },
		},
		{
			// The reconnect resumes before the error chunk, which does not
			// carry a continuation token, and so gets it again.
			name:  "error chunks passed through once",
			n:     8,
			errAt: []int{3},
			setup: func(f *fakeKVS) { f.mediaCuts = []cut{{frag: 4, at: midBlock, abort: true}} },
			live:  func([]*fakeFragment) Live { return Live{Start: StartSelector{Type: StartEarliest}} },
			want:  func(fr []*fakeFragment) [][]byte { return mediaOf(fr) },
		},
		{
			name: "server timestamp start",
			n:    8,
			live: func(fr []*fakeFragment) Live {
				return Live{Start: StartSelector{Type: StartServerTimestamp, Timestamp: fr[4].server}}
			},
			want: func(fr []*fakeFragment) [][]byte { return mediaOf(fr[4:]) },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frags := makeStream(t, tc.n, tc.errAt...)
			fk := newFakeKVS(t, frags)
			if tc.setup != nil {
				tc.setup(fk)
			}
			c := fk.client(t, nil)
			l := tc.live(frags)
			l.Stream = Stream{ARN: testARN}
			got, err := readLiveAll(t, c, l)
			if err != nil {
				t.Fatal(err)
			}
			if d := got.diff(expect(t, tc.want(frags)...)); d != "" {
				t.Error(d)
			}
			if len(fk.mediaCuts) != 0 {
				t.Errorf("%d cuts never happened", len(fk.mediaCuts))
			}
			if tc.wantSelectors != nil {
				if want := tc.wantSelectors(frags); !slices.Equal(fk.selectors, want) {
					t.Errorf("GetMedia selectors:\n got  %v\n want %v", fk.selectors, want)
				}
			}
		})
	}
}

// TestFragmentNumberSemantics: whether the service's FRAGMENT_NUMBER start
// includes the fragment or not, the reader delivers the same fragments.
func TestFragmentNumberSemantics(t *testing.T) {
	frags := makeStream(t, 10)
	for _, tc := range []struct {
		name      string
		inclusive bool // the server's reading of FRAGMENT_NUMBER
		include   bool // IncludeStartFragment
		setup     func(*fakeKVS)
		from      int // first fragment expected
	}{
		{"exclusive server, start after", false, false, nil, 4},
		{"inclusive server, start after", true, false, nil, 4},
		{"exclusive server, start at", false, true, nil, 3},
		{"inclusive server, start at", true, true, nil, 3},
		// Each session holds one and a half fragments: only resuming by
		// continuation token, not by FRAGMENT_NUMBER that an inclusive
		// server answers with the last fragment again, makes progress.
		{"inclusive server, start at, short sessions", true, true, func(f *fakeKVS) {
			f.sessionLimit = len(f.frags[0].media) * 3 / 2
		}, 3},
		{"start fetch cut and retried", false, true, func(f *fakeKVS) {
			f.listCuts = []cut{{frag: 3, at: midBlock, abort: true}}
		}, 3},
		{"start fetch refused, inclusive server", true, true, func(f *fakeKVS) {
			f.addFault("getMediaForFragmentList", 1, fault{http.StatusBadRequest, ErrTypeInvalidArgument, "no retention"})
		}, 3},
		// Without archived media and with an exclusive server the start
		// fragment cannot be had; the reader logs it and reads on.
		{"start fetch refused, exclusive server", false, true, func(f *fakeKVS) {
			f.addFault("getMediaForFragmentList", 1, fault{http.StatusBadRequest, ErrTypeInvalidArgument, "no retention"})
		}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fk := newFakeKVS(t, frags)
			fk.inclusive = tc.inclusive
			if tc.setup != nil {
				tc.setup(fk)
			}
			c := fk.client(t, nil)
			got, err := readLiveAll(t, c, Live{
				Stream:               Stream{ARN: testARN},
				Start:                StartSelector{Type: StartFragmentNumber, FragmentNumber: frags[3].number},
				IncludeStartFragment: tc.include,
			})
			if err != nil {
				t.Fatal(err)
			}
			if d := got.diff(expect(t, mediaOf(frags[tc.from:])...)); d != "" {
				t.Error(d)
			}
			if want := "FRAGMENT_NUMBER " + frags[3].number; len(fk.selectors) == 0 || fk.selectors[0] != want {
				t.Errorf("first GetMedia selector %v, want %s", fk.selectors, want)
			}
		})
	}
}

func TestLiveIdleTimeout(t *testing.T) {
	frags := makeStream(t, 6)
	fk := newFakeKVS(t, frags)
	fk.hang = true // sessions never end on their own
	c := fk.client(t, func(o *Options) { o.IdleTimeout = 50 * time.Millisecond })
	got, err := readLiveAll(t, c, Live{Stream: Stream{ARN: testARN}, Start: StartSelector{Type: StartEarliest}})
	if err != nil {
		t.Fatal(err)
	}
	if d := got.diff(expect(t, mediaOf(frags)...)); d != "" {
		t.Error(d)
	}
}

func TestLiveMaxDuration(t *testing.T) {
	frags := makeStream(t, 6)
	fk := newFakeKVS(t, frags)
	fk.hang = true
	c := fk.client(t, nil)
	got, err := readLiveAll(t, c, Live{Stream: Stream{ARN: testARN}, Start: StartSelector{Type: StartEarliest}, MaxDuration: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("got %v, want io.EOF at the max duration", err)
	}
	// How much arrives in time is up to the scheduler; it must be a prefix.
	all := expect(t, mediaOf(frags)...)
	if len(got.entries) > len(all.entries) || !slices.Equal(got.entries, all.entries[:len(got.entries)]) {
		t.Errorf("delivered %v, want a prefix of the stream", short(got.entries))
	}
}

func TestLiveContextCanceled(t *testing.T) {
	frags := makeStream(t, 6)
	fk := newFakeKVS(t, frags)
	fk.hang = true
	c := fk.client(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lr, err := c.ReadLive(ctx, Live{Stream: Stream{ARN: testARN}, Start: StartSelector{Type: StartEarliest}})
	if err != nil {
		t.Fatal(err)
	}
	defer lr.Close()
	if _, err := lr.Next(); err != nil {
		t.Fatal(err)
	}
	cancel()
	// Fragments already buffered may still come; then the cancellation.
	for range len(frags) {
		if _, err = lr.Next(); err != nil {
			break
		}
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	waitReleased(t, fk)
}

func TestLiveCloseReleasesConnection(t *testing.T) {
	frags := makeStream(t, 6)
	fk := newFakeKVS(t, frags)
	fk.hang = true
	c := fk.client(t, nil)
	lr, err := c.ReadLive(context.Background(), Live{Stream: Stream{ARN: testARN}, Start: StartSelector{Type: StartEarliest}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lr.Next(); err != nil {
		t.Fatal(err)
	}
	lr.Close()
	lr.Close()
	if _, err := lr.Next(); err == nil || err == io.EOF {
		t.Errorf("Next after Close = %v, want an error", err)
	}
	waitReleased(t, fk)
}

// waitReleased waits for the fake to see a hanging GetMedia's client leave.
func waitReleased(t *testing.T, fk *fakeKVS) {
	t.Helper()
	select {
	case <-fk.released:
	case <-time.After(5 * time.Second):
		t.Fatal("the server never saw the connection close")
	}
}

func TestReadLiveInvalid(t *testing.T) {
	fk := newFakeKVS(t, nil)
	c := fk.client(t, nil)
	s := Stream{ARN: testARN}
	for name, l := range map[string]Live{
		"no stream":              {Start: StartSelector{Type: StartNow}},
		"unknown selector":       {Stream: s, Start: StartSelector{Type: "LATEST"}},
		"fragment number":        {Stream: s, Start: StartSelector{Type: StartFragmentNumber, FragmentNumber: "-1"}},
		"timestamp missing":      {Stream: s, Start: StartSelector{Type: StartProducerTimestamp}},
		"token invalid":          {Stream: s, Start: StartSelector{Type: StartContinuationToken, ContinuationToken: "a b"}},
		"include without number": {Stream: s, Start: StartSelector{Type: StartNow}, IncludeStartFragment: true},
		"stop before start":      {Stream: s, Start: StartSelector{Type: StartFragmentNumber, FragmentNumber: "10"}, StopFragment: "9"},
		"negative duration":      {Stream: s, Start: StartSelector{Type: StartNow}, MaxDuration: -time.Second},
	} {
		if _, err := c.ReadLive(context.Background(), l); err == nil {
			t.Errorf("%s: ReadLive succeeded", name)
		}
	}
}
