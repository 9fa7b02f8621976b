package live

import (
	"fmt"
	"time"

	"github.com/vmx-dev/vmx/internal/audio/vad"
)

// vad.Segmenter closes an utterance only when the next one starts (or the
// stream ends): its detector reports a speech span once the span has
// ended, so the segmenter cannot tell a pause from speech still going on.
// A live call needs the message when the speaker pauses. The tracker
// below adds that: once the main detector has reported no speech for
// Pause, a probe detector re-reads the last few seconds, flushed, which
// shows speech still going on; if there is none, the segmenter is finished
// at a cut in the pause (emitting the open utterance) and a new one starts
// there, re-fed with the audio after the cut.

const (
	// probeMargin is the silence beyond Pause the probe wants before it
	// trusts a pause: the probe's last frames are decided without
	// lookahead.
	probeMargin = 100 * time.Millisecond
	// probeEvery bounds how often one track is probed.
	probeEvery = 100 * time.Millisecond
	// recentAudio is the audio kept for probes and re-feeding: the
	// energy detector's 1.5 s noise-floor window, the pause and a margin.
	recentAudio = 4 * time.Second
)

// watched wraps the main detector: it records the last raw speech span it
// reported and, while a cut is flushed, drops what lies past the cut (that
// audio is fed again to the next segmenter).
type watched struct {
	vad.Detector
	lastEnd int64 // end of the last raw span reported, ms; -1 for none
	cut     int64 // while >= 0, the cut flushed spans must end at
}

func (w *watched) Detect(dst []vad.Span, pcm []int16) []vad.Span {
	n := len(dst)
	dst = w.Detector.Detect(dst, pcm)
	w.note(dst[n:])
	return dst
}

func (w *watched) Flush(dst []vad.Span) []vad.Span {
	n := len(dst)
	dst = w.Detector.Flush(dst)
	if w.cut >= 0 {
		keep := dst[:n]
		for _, s := range dst[n:] {
			if s.StartMS >= w.cut {
				continue
			}
			s.EndMS = min(s.EndMS, w.cut)
			keep = append(keep, s)
		}
		dst = keep
	}
	w.note(dst[n:])
	return dst
}

func (w *watched) Reset() {
	w.Detector.Reset()
	w.lastEnd = -1
}

func (w *watched) note(spans []vad.Span) {
	for _, s := range spans {
		w.lastEnd = max(w.lastEnd, s.EndMS)
	}
}

// utterance is a closed utterance with its own copy of the audio; times are
// ms on the track's timeline.
type utterance struct {
	StartMS, EndMS int64
	Samples        []int16
}

// tracker cuts one participant's audio into utterances as they close. It
// is not safe for concurrent use.
type tracker struct {
	w     *watched
	probe vad.Detector
	opts  vad.Options
	seg   *vad.Segmenter
	rate  int
	emit  func(utterance) error

	pause, minSilence, minSpeech int64 // ms

	base    int64   // track ms of the current segmenter's start
	fed     int64   // samples fed since the track began
	start   int64   // track ms of the first sample (the session's offset)
	recent  []int16 // the last recentAudio of samples, ending at fed
	emitted int64   // end of the last utterance handed out, track ms
	probed  int64   // when the last probe ran, track ms
	heard   int64   // end of the speech the last probe heard, track ms
	odd     []byte  // a byte of a sample split between writes
	scratch []int16
}

// newTracker returns a tracker whose timeline starts at startMS. main and
// probe must be two detectors of the same configuration.
func newTracker(main, probe vad.Detector, pause, maxUtterance time.Duration, startMS int64, emit func(utterance) error) (*tracker, error) {
	minSilence := min(pause, 300*time.Millisecond)
	t := &tracker{
		w:     &watched{Detector: main, lastEnd: -1, cut: -1},
		probe: probe,
		opts: vad.Options{
			SplitPause:   pause,
			MinSilence:   minSilence,
			MaxUtterance: maxUtterance,
		},
		rate:       main.SampleRate(),
		emit:       emit,
		pause:      pause.Milliseconds(),
		minSilence: minSilence.Milliseconds(),
		minSpeech:  100, // vad's default MinSpeech
		base:       startMS,
		start:      startMS,
		emitted:    startMS,
		probed:     -1 << 62,
	}
	seg, err := vad.NewSegmenter(t.w, t.opts)
	if err != nil {
		return nil, fmt.Errorf("live: %w", err)
	}
	t.seg = seg
	return t, nil
}

// now is the track time of the newest sample.
func (t *tracker) now() int64 { return t.start + t.fed*1000/int64(t.rate) }

// Write feeds 16-bit little-endian PCM.
func (t *tracker) Write(p []byte) error {
	if len(t.odd) == 1 && len(p) > 0 {
		p = append(t.odd, p...)
		t.odd = t.odd[:0]
	}
	n := len(p) / 2
	if cap(t.scratch) < n {
		t.scratch = make([]int16, n)
	}
	s := t.scratch[:n]
	for i := range s {
		s[i] = int16(uint16(p[2*i]) | uint16(p[2*i+1])<<8)
	}
	if len(p)%2 == 1 {
		t.odd = append(t.odd[:0], p[len(p)-1])
	}
	return t.WriteSamples(s)
}

// WriteSamples feeds samples and hands out the utterances they close.
func (t *tracker) WriteSamples(pcm []int16) error {
	if err := t.seg.Write(pcm, t.relay); err != nil {
		return err
	}
	t.fed += int64(len(pcm))
	t.recent = append(t.recent, pcm...)
	if keep := int(recentAudio.Milliseconds()) * t.rate / 1000; len(t.recent) > 2*keep {
		t.recent = append(t.recent[:0], t.recent[len(t.recent)-keep:]...)
	}
	return t.closeAtPause()
}

// Finish hands out the utterance still open.
func (t *tracker) Finish() error {
	_, err := t.seg.Finish(t.relay)
	return err
}

// relay hands out an utterance of the current segmenter on the track's
// timeline, with its own copy of the audio.
func (t *tracker) relay(u vad.Utterance) error {
	out := utterance{
		StartMS: t.base + u.Span.StartMS,
		EndMS:   t.base + u.Span.EndMS,
		Samples: append([]int16(nil), u.Samples...),
	}
	t.emitted = max(t.emitted, out.EndMS)
	return t.emit(out)
}

// closeAtPause finishes the open utterance once a pause of t.pause follows
// it.
func (t *tracker) closeAtPause() error {
	if t.w.lastEnd < 0 || t.base+t.w.lastEnd <= t.emitted {
		return nil // no speech since the last utterance
	}
	now := t.now()
	last := t.base + t.w.lastEnd
	if now-max(last, t.heard) < t.pause+probeMargin.Milliseconds() || now-t.probed < probeEvery.Milliseconds() {
		return nil
	}
	t.probed = now
	cut, ok := t.findPause(last, now)
	if !ok {
		return nil
	}
	return t.cutAt(cut)
}

// findPause probes the recent audio for a pause of t.pause after speech
// that ended at last, and returns where to cut: in the middle of the
// pause.
func (t *tracker) findPause(last, now int64) (int64, bool) {
	win := t.recent[max(0, len(t.recent)-int(recentAudio.Milliseconds())*t.rate/1000):]
	from := now - int64(len(win))*1000/int64(t.rate)
	t.probe.Reset()
	spans := t.probe.Detect(nil, win)
	spans = t.probe.Flush(spans)
	p := last
	for _, g := range groups(spans, t.minSilence, t.minSpeech) {
		g.StartMS += from
		g.EndMS += from
		if g.EndMS <= p {
			continue
		}
		if g.StartMS-p >= t.pause {
			return p + t.pause/2, true
		}
		p = max(p, g.EndMS)
	}
	if now-p < t.pause+probeMargin.Milliseconds() {
		t.heard = p // speech goes on: wait for a pause after it
		return 0, false
	}
	return p + t.pause/2, true
}

// groups joins spans across pauses shorter than minSilence and drops
// groups shorter than minSpeech, as vad.Analyzer does.
func groups(spans []vad.Span, minSilence, minSpeech int64) []vad.Span {
	var out []vad.Span
	for _, s := range spans {
		if n := len(out); n > 0 && s.StartMS-out[n-1].EndMS < minSilence {
			out[n-1].EndMS = max(out[n-1].EndMS, s.EndMS)
			continue
		}
		out = append(out, s)
	}
	kept := out[:0]
	for _, g := range out {
		if g.DurationMS() >= minSpeech {
			kept = append(kept, g)
		}
	}
	return kept
}

// cutAt finishes the segmenter at track time at and starts the next one
// there, fed again with the audio after at.
func (t *tracker) cutAt(at int64) error {
	now := t.now()
	at = max(at, now-int64(len(t.recent))*1000/int64(t.rate), t.base)
	t.w.cut = at - t.base
	_, err := t.seg.Finish(t.relay)
	t.w.cut = -1
	if err != nil {
		return err
	}
	seg, err := vad.NewSegmenter(t.w, t.opts)
	if err != nil {
		return fmt.Errorf("live: %w", err)
	}
	t.seg, t.base, t.heard = seg, at, 0
	// An utterance ending in the pause closes the pause: nothing before at
	// is open any more.
	t.emitted = max(t.emitted, at)
	tail := int((now - at) * int64(t.rate) / 1000)
	tail = min(tail, len(t.recent))
	return t.seg.Write(t.recent[len(t.recent)-tail:], t.relay)
}
