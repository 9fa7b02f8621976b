package vad

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// Options steer an [Analyzer]. Every field is optional: zero means the
// documented default, a negative duration means none.
type Options struct {
	// Pad is added before and after each speech span and utterance, within
	// the audio and, for utterances, within half the pause to the next;
	// 200 ms by default.
	Pad time.Duration
	// MinSilence is the shortest pause that separates speech spans;
	// shorter ones are bridged. 300 ms by default.
	MinSilence time.Duration
	// MinSpeech is the shortest speech span kept; shorter ones (clicks,
	// coughs, line noise) are dropped. 100 ms by default.
	MinSpeech time.Duration
	// SplitPause is a pause long enough to end an utterance; 800 ms by
	// default, at least MinSilence.
	SplitPause time.Duration
	// MaxUtterance bounds an utterance, padding included. An utterance
	// that would grow longer is cut at the longest pause in its second
	// half (or, failing that, anywhere in it), and only continuous speech
	// with no pause at all is cut mid-speech. 20 s by default, at least
	// 1 s plus twice Pad.
	MaxUtterance time.Duration
	// EmptyBelow: a message with less speech than this is empty (the caller
	// hung up without speaking); 300 ms by default.
	EmptyBelow time.Duration
}

// Result describes the speech in a message. Times are milliseconds from the
// start of the message.
type Result struct {
	AudioMS int64 // length of the message
	// SpeechMS is the length of the speech found, without padding.
	SpeechMS int64
	// Spans are the speech spans, padded, in order and not overlapping.
	Spans []Span
	// Speech runs from the start of the first span to the end of the last:
	// the message without its leading and trailing silence. It is the zero
	// Span when no speech was found.
	Speech Span
	// Utterances cover the speech in pieces of at most
	// Options.MaxUtterance, cut at pauses, padded, not overlapping: the
	// units to hand to a speech recogniser.
	Utterances []Span
	// Empty is set when SpeechMS is below Options.EmptyBelow.
	Empty bool
}

// utterance is an utterance before padding; a hard edge is a cut through
// continuous speech, which padding must not cross.
type utterance struct {
	Span
	hardStart, hardEnd bool
}

// Analyzer runs a Detector over one message, streamed through Write or
// WriteSamples, and gathers a [Result]. It holds no audio: its memory grows
// only with the number of spans found. It is not safe for concurrent use.
type Analyzer struct {
	d    Detector
	rate int
	// options in milliseconds
	pad, minSilence, minSpeech, splitPause, maxContent, emptyBelow int64

	scratch []int16
	raw     []Span
	odd     byte // first byte of a sample split between writes
	hasOdd  bool
	samples int64

	// the open group of raw spans, joined across pauses < minSilence
	grp     Span
	grpOpen bool
	grpKept bool   // the group reached minSpeech
	grpRaw  []Span // its raw spans, until it is kept

	// the open utterance: its start and raw spans (tail of the window)
	uOpen      bool
	uStart     int64
	uHardStart bool
	members    []Span
	utts       []utterance

	res Result
}

// NewAnalyzer resets d and returns an Analyzer for one message.
func NewAnalyzer(d Detector, opts Options) (*Analyzer, error) {
	ms := func(v, def time.Duration) int64 {
		switch {
		case v == 0:
			v = def
		case v < 0:
			v = 0
		}
		return v.Milliseconds()
	}
	a := &Analyzer{
		d:          d,
		rate:       d.SampleRate(),
		pad:        ms(opts.Pad, 200*time.Millisecond),
		minSilence: ms(opts.MinSilence, 300*time.Millisecond),
		minSpeech:  ms(opts.MinSpeech, 100*time.Millisecond),
		splitPause: ms(opts.SplitPause, 800*time.Millisecond),
		emptyBelow: ms(opts.EmptyBelow, 300*time.Millisecond),
		scratch:    make([]int16, 4096),
		raw:        make([]Span, 0, 16),
	}
	maxUtt := ms(opts.MaxUtterance, 20*time.Second)
	if a.splitPause < a.minSilence {
		return nil, fmt.Errorf("vad: split_pause: %dms must be at least min_silence (%dms)", a.splitPause, a.minSilence)
	}
	if maxUtt < 1000+2*a.pad {
		return nil, fmt.Errorf("vad: max_utterance: %dms must be at least 1s plus twice pad (%dms)", maxUtt, a.pad)
	}
	a.maxContent = maxUtt - 2*a.pad
	d.Reset()
	return a, nil
}

// Write feeds the next bytes of the message, 16-bit little-endian PCM, in
// chunks of any length (a sample may straddle two writes). It never fails.
func (a *Analyzer) Write(p []byte) (int, error) {
	n := len(p)
	if a.hasOdd && len(p) > 0 {
		a.scratch[0] = int16(uint16(a.odd) | uint16(p[0])<<8)
		a.WriteSamples(a.scratch[:1])
		a.hasOdd = false
		p = p[1:]
	}
	for len(p) >= 2 {
		k := min(len(p)/2, len(a.scratch))
		for i := range k {
			a.scratch[i] = int16(binary.LittleEndian.Uint16(p[2*i:]))
		}
		a.WriteSamples(a.scratch[:k])
		p = p[2*k:]
	}
	if len(p) == 1 {
		a.odd, a.hasOdd = p[0], true
	}
	return n, nil
}

// WriteSamples feeds the next samples of the message.
func (a *Analyzer) WriteSamples(pcm []int16) {
	a.samples += int64(len(pcm))
	a.raw = a.d.Detect(a.raw[:0], pcm)
	for _, r := range a.raw {
		a.addRaw(r)
	}
}

// Finish ends the message and returns its Result. The Analyzer must not be
// used afterwards.
func (a *Analyzer) Finish() *Result {
	a.raw = a.d.Flush(a.raw[:0])
	for _, r := range a.raw {
		a.addRaw(r)
	}
	a.closeGroup()
	if a.uOpen {
		a.emit(a.members[len(a.members)-1].EndMS, false)
		a.uOpen = false
	}
	res := &a.res
	res.AudioMS = msOf(a.samples, a.rate)
	for i := range res.Spans {
		res.Spans[i].EndMS = min(res.Spans[i].EndMS, res.AudioMS)
	}
	if n := len(res.Spans); n > 0 {
		res.Speech = Span{StartMS: res.Spans[0].StartMS, EndMS: res.Spans[n-1].EndMS}
	}
	res.Utterances = make([]Span, len(a.utts))
	for i := range a.utts {
		res.Utterances[i] = a.padded(i, res.AudioMS)
	}
	res.Empty = res.SpeechMS < a.emptyBelow
	return res
}

// padded returns utterance i with its padding: Pad each side, within the
// audio and within half the pause to its neighbours, never across a hard
// edge. The utterance after the last emitted one starts at a.uStart (every
// emit but Finish's leaves an utterance open), so an emitted utterance's
// padding is final at once; audioMS bounds only the last one at Finish.
func (a *Analyzer) padded(i int, audioMS int64) Span {
	u := a.utts[i]
	s := u.Span
	if !u.hardStart {
		room := s.StartMS
		if i > 0 {
			room = (s.StartMS - a.utts[i-1].EndMS) / 2
		}
		s.StartMS -= min(a.pad, room)
	}
	if !u.hardEnd {
		room := audioMS - s.EndMS
		switch {
		case i+1 < len(a.utts):
			room = (a.utts[i+1].StartMS - s.EndMS) / 2
		case a.uOpen:
			room = (a.uStart - s.EndMS) / 2
		}
		s.EndMS += max(0, min(a.pad, room))
	}
	return s
}

// addRaw joins raw span r to the open group or starts a new one.
func (a *Analyzer) addRaw(r Span) {
	// A detector deciding padded windows may overshoot the audio.
	if r.EndMS = min(r.EndMS, msOf(a.samples, a.rate)); r.EndMS <= r.StartMS {
		return
	}
	if a.grpOpen && r.StartMS-a.grp.EndMS < a.minSilence {
		a.grp.EndMS = r.EndMS
	} else {
		a.closeGroup()
		a.grp, a.grpOpen, a.grpKept = r, true, false
		a.grpRaw = a.grpRaw[:0]
	}
	if a.grpKept {
		a.addSpeech(r)
		return
	}
	a.grpRaw = append(a.grpRaw, r)
	if a.grp.DurationMS() >= a.minSpeech {
		a.grpKept = true
		for _, s := range a.grpRaw {
			a.addSpeech(s)
		}
		a.grpRaw = a.grpRaw[:0]
	}
}

// closeGroup ends the open group, keeping it as a span if it is long enough.
func (a *Analyzer) closeGroup() {
	if !a.grpOpen {
		return
	}
	a.grpOpen = false
	if !a.grpKept {
		return
	}
	a.res.SpeechMS += a.grp.DurationMS()
	s := Span{StartMS: max(0, a.grp.StartMS-a.pad), EndMS: a.grp.EndMS + a.pad}
	if n := len(a.res.Spans); n > 0 && s.StartMS <= a.res.Spans[n-1].EndMS {
		a.res.Spans[n-1].EndMS = s.EndMS
		return
	}
	a.res.Spans = append(a.res.Spans, s)
}

// addSpeech adds raw span r of a kept group to the open utterance, closing
// it first at a long pause and cutting it when it grows too long.
func (a *Analyzer) addSpeech(r Span) {
	if a.uOpen && r.StartMS-a.members[len(a.members)-1].EndMS >= a.splitPause {
		a.emit(a.members[len(a.members)-1].EndMS, false)
		a.uOpen = false
	}
	if !a.uOpen {
		a.uOpen, a.uStart, a.uHardStart = true, r.StartMS, false
		a.members = a.members[:0]
	}
	a.members = append(a.members, r)
	for a.members[len(a.members)-1].EndMS-a.uStart > a.maxContent {
		a.cut()
	}
}

// cut ends the open utterance within maxContent of its start: at the longest
// pause in the second half of that window, else at the longest pause in it,
// else (continuous speech) at the limit itself.
func (a *Analyzer) cut() {
	limit := a.uStart + a.maxContent
	half := a.uStart + a.maxContent/2
	best, bestLate := -1, -1
	for i := 0; i+1 < len(a.members) && a.members[i].EndMS <= limit; i++ {
		g := a.members[i+1].StartMS - a.members[i].EndMS
		if best < 0 || g > a.members[best+1].StartMS-a.members[best].EndMS {
			best = i
		}
		if a.members[i].EndMS >= half && (bestLate < 0 || g >= a.members[bestLate+1].StartMS-a.members[bestLate].EndMS) {
			bestLate = i
		}
	}
	if bestLate >= 0 {
		best = bestLate
	}
	if best >= 0 {
		a.emit(a.members[best].EndMS, false)
		n := copy(a.members, a.members[best+1:])
		a.members = a.members[:n]
		a.uStart, a.uHardStart = a.members[0].StartMS, false
		return
	}
	// No pause before the limit: the first span runs through it.
	a.emit(limit, true)
	a.uStart, a.uHardStart = limit, true
	a.members[0].StartMS = limit
}

// emit records the open utterance as ending at end.
func (a *Analyzer) emit(end int64, hard bool) {
	a.utts = append(a.utts, utterance{
		Span:      Span{StartMS: a.uStart, EndMS: end},
		hardStart: a.uHardStart,
		hardEnd:   hard,
	})
}

// Analyze runs d over the 16-bit little-endian PCM read from r until EOF.
// It checks ctx between reads.
func Analyze(ctx context.Context, d Detector, r io.Reader, opts Options) (*Result, error) {
	a, err := NewAnalyzer(d, opts)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 32<<10)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := r.Read(buf)
		_, _ = a.Write(buf[:n])
		if err == io.EOF {
			return a.Finish(), nil
		}
		if err != nil {
			return nil, fmt.Errorf("vad: reading audio: %w", err)
		}
	}
}
