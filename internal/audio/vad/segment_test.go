package vad

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// A Segmenter hands out exactly the Analyzer's utterances with their audio,
// in order, while holding a bounded buffer however long the stream.
func TestSegmenterMatchesAnalyzer(t *testing.T) {
	var pieces []piece
	pieces = append(pieces, piece{ms: 90_000, kind: "silence"}) // a long silent lead-in must not be buffered
	for i := range 30 {
		pieces = append(pieces, piece{ms: 2000 + 1000*(i*7%9), kind: "speech"}, piece{ms: 300 + 400*(i%4), kind: "silence"})
	}
	sig, words := scriptWords(5, pieces...)
	s := pcm16(addNoise(sig, mergeTruth(words, 300), 20, true, 9))
	opts := Options{MaxUtterance: 10 * time.Second}
	want := analyseEnergy(t, s, EnergyConfig{}, opts)

	d, err := NewEnergy(testRate, EnergyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	seg, err := NewSegmenter(d, opts)
	if err != nil {
		t.Fatal(err)
	}
	var got []Span
	maxBuf := 0
	emit := func(u Utterance) error {
		from, to := u.Span.Samples(testRate)
		if !slices.Equal(u.Samples, s[from:to]) {
			t.Errorf("utterance %v: %d samples are not the stream's [%d, %d)", u.Span, len(u.Samples), from, to)
		}
		got = append(got, u.Span)
		return nil
	}
	for chunk := s; len(chunk) > 0; {
		n := min(len(chunk), 777) // odd chunk sizes
		if err := seg.Write(chunk[:n], emit); err != nil {
			t.Fatal(err)
		}
		chunk = chunk[n:]
		maxBuf = max(maxBuf, len(seg.buf))
	}
	res, err := seg.Finish(emit)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want.Utterances) || !slices.Equal(res.Utterances, want.Utterances) {
		t.Fatalf("segmenter utterances\n%v\nanalyzer's\n%v", got, want.Utterances)
	}
	if len(got) < 10 {
		t.Fatalf("only %d utterances", len(got))
	}
	// The window: one utterance, the pause and the detector's delay; far
	// less than the 90 s lead-in or the stream.
	if limit := 2 * 14 * testRate; maxBuf > limit {
		t.Errorf("buffer grew to %d samples (%.1f s) for a %d s stream", maxBuf, float64(maxBuf)/testRate, len(s)/testRate)
	}
	t.Logf("%d s stream, %d utterances, buffer at most %.1f s", len(s)/testRate, len(got), float64(maxBuf)/testRate)
}

// An error from emit stops the Segmenter and is returned as is.
func TestSegmenterEmitError(t *testing.T) {
	sig, _ := script(3, piece{ms: 500, kind: "silence"}, piece{ms: 2000, kind: "speech"}, piece{ms: 500, kind: "silence"})
	d, _ := NewEnergy(testRate, EnergyConfig{})
	seg, err := NewSegmenter(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	emit := func(Utterance) error { return stop }
	if err := seg.Write(pcm16(sig), emit); err != nil && !errors.Is(err, stop) {
		t.Fatal(err)
	}
	if _, err := seg.Finish(emit); !errors.Is(err, stop) {
		t.Fatalf("Finish: %v, want the emit error", err)
	}
}
