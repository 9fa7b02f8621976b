package vad

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// scripted is a Detector that reports given raw spans at the end of a
// stream of a given length, for testing the Analyzer alone.
type scripted struct {
	spans []Span
}

func (s *scripted) Detect(dst []Span, pcm []int16) []Span { return dst }
func (s *scripted) Flush(dst []Span) []Span               { return append(dst, s.spans...) }
func (s *scripted) Reset()                                {}
func (s *scripted) SampleRate() int                       { return 1000 } // one sample per ms
func (s *scripted) Close() error                          { return nil }

func analyseScripted(t *testing.T, audioMS int, opts Options, raw ...Span) *Result {
	t.Helper()
	a, err := NewAnalyzer(&scripted{spans: raw}, opts)
	if err != nil {
		t.Fatal(err)
	}
	a.WriteSamples(make([]int16, audioMS))
	return a.Finish()
}

func sp(start, end int64) Span { return Span{StartMS: start, EndMS: end} }

func TestAnalyzerSpans(t *testing.T) {
	for _, tc := range []struct {
		name    string
		audio   int
		raw     []Span
		opts    Options
		spans   []Span
		speech  Span
		speechM int64
		empty   bool
	}{
		{
			name: "nothing", audio: 3000, empty: true,
		},
		{
			name: "one span padded", audio: 3000, raw: []Span{sp(1000, 2000)},
			spans: []Span{sp(800, 2200)}, speech: sp(800, 2200), speechM: 1000,
		},
		{
			name: "padding within the audio", audio: 2100, raw: []Span{sp(100, 2050)},
			spans: []Span{sp(0, 2100)}, speech: sp(0, 2100), speechM: 1950,
		},
		{
			name: "short pauses bridged", audio: 5000,
			raw:   []Span{sp(1000, 1200), sp(1400, 1700), sp(1950, 2500)},
			spans: []Span{sp(800, 2700)}, speech: sp(800, 2700), speechM: 1500,
		},
		{
			name: "pause of MinSilence separates, padding joins", audio: 5000,
			raw:   []Span{sp(1000, 1500), sp(1800, 2500)},
			spans: []Span{sp(800, 2700)}, speech: sp(800, 2700), speechM: 1200,
		},
		{
			name: "long pause separates", audio: 5000,
			raw:   []Span{sp(1000, 1500), sp(2500, 3000)},
			spans: []Span{sp(800, 1700), sp(2300, 3200)}, speech: sp(800, 3200), speechM: 1000,
		},
		{
			name: "clicks dropped", audio: 5000,
			raw:   []Span{sp(500, 540), sp(1000, 1500), sp(3000, 3060), sp(3500, 3550)},
			spans: []Span{sp(800, 1700)}, speech: sp(800, 1700), speechM: 500,
		},
		{
			name: "short speech is empty", audio: 5000, raw: []Span{sp(1000, 1250)},
			spans: []Span{sp(800, 1450)}, speech: sp(800, 1450), speechM: 250, empty: true,
		},
		{
			name: "no padding", audio: 5000, opts: Options{Pad: -1},
			raw:   []Span{sp(1000, 1500), sp(1800, 2500)},
			spans: []Span{sp(1000, 1500), sp(1800, 2500)}, speech: sp(1000, 2500), speechM: 1200,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := analyseScripted(t, tc.audio, tc.opts, tc.raw...)
			if !reflect.DeepEqual(r.Spans, tc.spans) && (len(r.Spans) != 0 || len(tc.spans) != 0) {
				t.Errorf("Spans = %v, want %v", r.Spans, tc.spans)
			}
			if r.Speech != tc.speech || r.SpeechMS != tc.speechM || r.Empty != tc.empty || r.AudioMS != int64(tc.audio) {
				t.Errorf("Speech %v SpeechMS %d Empty %v AudioMS %d, want %v %d %v %d",
					r.Speech, r.SpeechMS, r.Empty, r.AudioMS, tc.speech, tc.speechM, tc.empty, tc.audio)
			}
		})
	}
}

func TestAnalyzerUtterances(t *testing.T) {
	// Utterances of at most 10 s: 9.6 s of speech and 0.2 s of padding on
	// each side.
	opts := Options{MaxUtterance: 10 * time.Second}
	for _, tc := range []struct {
		name  string
		audio int
		raw   []Span
		want  []Span
	}{
		{
			name: "split at long pauses", audio: 20000,
			raw:  []Span{sp(1000, 3000), sp(3400, 5000), sp(6000, 8000), sp(9500, 9900)},
			want: []Span{sp(800, 5200), sp(5800, 8200), sp(9300, 10100)},
		},
		{
			// Content window 0-9.6 s; pauses at 2000-2600, 5000-5500 and
			// 7000-7200; the longest in the second half (after 4.8 s) is
			// 5000-5500.
			name: "cut at the longest pause in the second half", audio: 20000,
			raw:  []Span{sp(0, 2000), sp(2600, 5000), sp(5500, 7000), sp(7200, 11000)},
			want: []Span{sp(0, 5200), sp(5300, 11200)},
		},
		{
			// Only one pause, in the first half: used all the same.
			name: "cut at a pause in the first half", audio: 20000,
			raw:  []Span{sp(0, 1000), sp(1400, 11000)},
			want: []Span{sp(0, 1200), sp(1200, 11200)},
		},
		{
			name: "continuous speech cut at the limit", audio: 30000,
			raw:  []Span{sp(1000, 21000)},
			want: []Span{sp(800, 10600), sp(10600, 20200), sp(20200, 21200)},
		},
		{
			name: "continuous speech after a pause", audio: 30000,
			raw:  []Span{sp(0, 500), sp(700, 20000)},
			want: []Span{sp(0, 600), sp(600, 10300), sp(10300, 19900), sp(19900, 20200)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := analyseScripted(t, tc.audio, opts, tc.raw...)
			if !reflect.DeepEqual(r.Utterances, tc.want) {
				t.Errorf("Utterances = %v, want %v", r.Utterances, tc.want)
			}
			checkUtterances(t, r, tc.raw, 10000)
		})
	}
}

// checkUtterances asserts the utterance invariants: ordered, disjoint, each
// at most maxMS, covering all speech.
func checkUtterances(t *testing.T, r *Result, speech []Span, maxMS int64) {
	t.Helper()
	for i, u := range r.Utterances {
		if u.DurationMS() <= 0 || u.DurationMS() > maxMS {
			t.Errorf("utterance %v lasts %d ms, want 1 to %d", u, u.DurationMS(), maxMS)
		}
		if i > 0 && u.StartMS < r.Utterances[i-1].EndMS {
			t.Errorf("utterance %v overlaps %v", u, r.Utterances[i-1])
		}
		if u.StartMS < 0 || u.EndMS > r.AudioMS {
			t.Errorf("utterance %v outside the audio (%d ms)", u, r.AudioMS)
		}
	}
	for _, s := range speech {
		for ms := s.StartMS; ms < s.EndMS; ms += 10 {
			covered := false
			for _, u := range r.Utterances {
				covered = covered || ms >= u.StartMS && ms < u.EndMS
			}
			if !covered {
				t.Errorf("speech at %d ms (in %v) is in no utterance", ms, s)
				break
			}
		}
	}
}

// TestUtterancesLongMessage runs a 100 s message of synthetic speech through
// the energy detector and checks that utterances respect the maximum and are
// cut inside pauses.
func TestUtterancesLongMessage(t *testing.T) {
	var pieces []piece
	for i := range 12 {
		// phrases of 3 to 14 s separated by 0.35 to 1.2 s pauses, so that
		// some utterances must be cut at short pauses.
		pieces = append(pieces, piece{ms: 3000 + 1000*(i*7%12), kind: "speech"}, piece{ms: 350 + 150*(i%6), kind: "silence"})
	}
	sig, words := scriptWords(21, pieces...)
	truth := mergeTruth(words, 300)
	s := pcm16(addNoise(sig, truth, 20, true, 4))
	const maxMS = 12000
	r := analyseEnergy(t, s, EnergyConfig{}, Options{MaxUtterance: maxMS * time.Millisecond})
	t.Logf("%d s of audio, %d spans, %d utterances", r.AudioMS/1000, len(truth), len(r.Utterances))
	checkUtterances(t, r, truth, maxMS)
	// Every boundary between utterances lies in a pause between words.
	for i := 1; i < len(r.Utterances); i++ {
		cut := (r.Utterances[i-1].EndMS + r.Utterances[i].StartMS) / 2
		for _, s := range words {
			if cut > s.StartMS+30 && cut < s.EndMS-30 {
				t.Errorf("cut at %d ms (between %v and %v) is inside speech %v", cut, r.Utterances[i-1], r.Utterances[i], s)
			}
		}
	}
	if len(r.Utterances) < int(r.SpeechMS/maxMS)+1 {
		t.Errorf("%d utterances for %d ms of speech", len(r.Utterances), r.SpeechMS)
	}
}

func TestAnalyzerOptions(t *testing.T) {
	e, _ := NewEnergy(testRate, EnergyConfig{})
	for _, tc := range []struct {
		opts Options
		err  string
	}{
		{Options{SplitPause: 200 * time.Millisecond}, "split_pause"},
		{Options{MaxUtterance: 1200 * time.Millisecond}, "max_utterance"},
	} {
		if _, err := NewAnalyzer(e, tc.opts); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("NewAnalyzer(%+v) = %v, want an error about %s", tc.opts, err, tc.err)
		}
	}
}

func TestAnalyze(t *testing.T) {
	sig, truth := script(8, piece{ms: 800, kind: "silence"}, piece{ms: 2000, kind: "speech"}, piece{ms: 800, kind: "silence"})
	b := pcmBytes(pcm16(addNoise(sig, truth, 20, false, 1)))
	e, _ := NewEnergy(testRate, EnergyConfig{})
	want, err := Analyze(context.Background(), e, bytes.NewReader(b), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Spans) != 1 || want.Empty {
		t.Fatalf("Analyze: %+v", want)
	}
	got, err := Analyze(context.Background(), e, iotest.OneByteReader(bytes.NewReader(b)), Options{})
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("one byte at a time: %+v, %v\nwant %+v", got, err, want)
	}
	boom := errors.New("boom")
	if _, err := Analyze(context.Background(), e, iotest.ErrReader(boom), Options{}); !errors.Is(err, boom) {
		t.Errorf("reader error: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Analyze(ctx, e, bytes.NewReader(b), Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestSpanSamples(t *testing.T) {
	start, end := sp(1250, 3000).Samples(8000)
	if start != 10000 || end != 24000 {
		t.Errorf("Samples(8000) = %d, %d", start, end)
	}
}
