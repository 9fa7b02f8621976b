package vad

// Utterance is a stretch of speech cut out of a stream by a [Segmenter],
// with its audio.
type Utterance struct {
	// Span is the utterance with its padding, in milliseconds from the
	// start of the stream; Samples holds its audio.
	Span Span
	// Samples aliases the Segmenter's buffer: it is valid only until the
	// emit call returns.
	Samples []int16
}

// Segmenter cuts a stream into utterances with their audio, for speech
// recognisers that must decode each utterance whole. It runs an [Analyzer]
// and hands each utterance out as soon as the analyzer has closed it, so
// it holds only the audio from the start of the earliest utterance that may
// still come: with the analyzer's bounds, at most about MaxUtterance plus
// the detector's delay, however long the stream.
type Segmenter struct {
	a    *Analyzer
	rate int
	// lookback is how far back from the newest sample a detector may still
	// report speech: a detector reports a span when it ends, and no span
	// outlasts MaxUtterance without being cut, so this bounds its delay.
	lookback int64
	buf      []int16 // samples from bufStart on
	bufStart int64   // stream offset of buf[0], in samples
	next     int     // first utterance of the analyzer not handed out
}

// NewSegmenter resets d and returns a Segmenter for one stream.
func NewSegmenter(d Detector, opts Options) (*Segmenter, error) {
	a, err := NewAnalyzer(d, opts)
	if err != nil {
		return nil, err
	}
	return &Segmenter{
		a:        a,
		rate:     a.rate,
		lookback: (a.maxContent + 3*a.pad + a.splitPause) * int64(a.rate) / 1000,
	}, nil
}

// Write feeds the next samples of the stream and calls emit, in order, for
// each utterance they complete. An error from emit is returned at once.
func (s *Segmenter) Write(pcm []int16, emit func(Utterance) error) error {
	s.buf = append(s.buf, pcm...)
	s.a.WriteSamples(pcm)
	if err := s.handOut(emit, 0); err != nil {
		return err
	}
	s.trim()
	return nil
}

// Finish ends the stream, emits the utterances still open and returns the
// analysis of the whole stream. The Segmenter must not be used afterwards.
func (s *Segmenter) Finish(emit func(Utterance) error) (*Result, error) {
	res := s.a.Finish()
	if err := s.handOut(emit, res.AudioMS); err != nil {
		return nil, err
	}
	return res, nil
}

// handOut emits the utterances the analyzer closed since the last call.
// audioMS is the stream's length once it has ended, else 0.
func (s *Segmenter) handOut(emit func(Utterance) error, audioMS int64) error {
	for ; s.next < len(s.a.utts); s.next++ {
		sp := s.a.padded(s.next, audioMS)
		from, to := sp.Samples(s.rate)
		// A span reaching before the buffer (a detector slower than
		// lookback) keeps the audio there is.
		from = min(max(from, s.bufStart), s.bufStart+int64(len(s.buf)))
		to = min(max(to, from), s.bufStart+int64(len(s.buf)))
		if err := emit(Utterance{Span: sp, Samples: s.buf[from-s.bufStart : to-s.bufStart]}); err != nil {
			return err
		}
	}
	return nil
}

// trim drops the audio no utterance to come can need: before the open
// utterance's padding, or, with none open, before the lookback window and
// the padding of the last speech span, whichever is later.
func (s *Segmenter) trim() {
	end := s.bufStart + int64(len(s.buf))
	keep := end - s.lookback
	if s.next > 0 {
		last := s.a.utts[s.next-1]
		keep = max(keep, last.EndMS*int64(s.rate)/1000)
	}
	if s.a.uOpen {
		keep = min(keep, (s.a.uStart-s.a.pad)*int64(s.rate)/1000)
	}
	if s.a.grpOpen {
		keep = min(keep, (s.a.grp.StartMS-s.a.pad)*int64(s.rate)/1000)
	}
	keep = max(keep, s.bufStart)
	if drop := keep - s.bufStart; drop > int64(len(s.buf))/2 && drop > int64(s.rate) {
		// Shift only when it frees a good part of the buffer, so that
		// copying stays linear in the stream's length.
		n := copy(s.buf, s.buf[drop:])
		s.buf = s.buf[:n]
		s.bufStart = keep
	}
}
