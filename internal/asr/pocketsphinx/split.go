package pocketsphinx

import (
	"math"
)

// PocketSphinx must see each utterance whole (full_utt, batch cepstral
// mean normalisation) but a voicemail can run for minutes, so the audio is
// cut into utterances at pauses. The pause finder is deliberately simple: a
// frame is speech when its energy stands well above an adaptive noise floor.
// It only has to find gaps between phrases in a single speaker's message,
// not to tell speech from music or crosstalk.
const (
	frameMS = 10
	// speechOverFloorDB is how far above the noise floor a frame must be
	// to count as speech; speech is typically 25–40 dB over a telephone
	// line's noise.
	speechOverFloorDB = 12.0
	// minSpeechDBFS keeps quiet line noise from counting as speech when
	// the floor is digital silence.
	minSpeechDBFS = -55.0
	// floorRiseDBPerFrame lets the noise floor creep up (0.5 dB per
	// second) after a quiet stretch, following a noisier line, while any
	// quieter frame pulls it straight down.
	floorRiseDBPerFrame = 0.005
	// initialFloorDBFS is the floor before any frame is seen: a typical
	// telephone line's idle noise, so speech in the first frame counts.
	initialFloorDBFS = -65.0
	// padMS of audio is kept before the first and after the last speech
	// frame of an utterance: soft consonants at word edges sit below the
	// threshold, and the recogniser wants some silence for its silence
	// model.
	padMS = 200
	// minSpeechMS of speech frames makes an utterance worth decoding;
	// shorter bursts are clicks and pops.
	minSpeechMS = 120
)

// utterance is a stretch of audio cut at pauses. Samples aliases the
// splitter's buffer and is valid only during the emit call.
type utterance struct {
	Samples []int16
	// Start is the stream offset of Samples[0]; SpeechStart and SpeechEnd
	// bound the frames judged speech (end exclusive). All in samples.
	Start, SpeechStart, SpeechEnd int64
}

// splitter cuts a stream of 16-bit mono samples into utterances. It holds at
// most one utterance (MaxUtterance plus padding) of audio.
type splitter struct {
	frameLen   int // samples per frame
	pauseLen   int // silent frames that end an utterance
	maxLen     int // samples after which an utterance is cut
	padLen     int // samples of padding each side
	minSpeech  int // speech frames an utterance needs
	floor      float64
	buf        []int16 // audio from start: padding, then the utterance
	start      int64   // stream offset of buf[0]
	carry      []int16 // an incomplete frame from the last write
	inUtt      bool
	speech     int   // speech frames in the current utterance
	silent     int   // silent frames since the last speech frame
	speechFrom int64 // stream offsets of the current utterance's speech
	speechTo   int64
}

func newSplitter(rate int, c Config) *splitter {
	frameLen := rate * frameMS / 1000
	return &splitter{
		frameLen:  frameLen,
		pauseLen:  max(1, int(c.Pause.Milliseconds()/frameMS)),
		maxLen:    int(int64(rate) * c.MaxUtterance.Milliseconds() / 1000),
		padLen:    rate * padMS / 1000,
		minSpeech: minSpeechMS / frameMS,
		floor:     initialFloorDBFS,
		carry:     make([]int16, 0, frameLen),
	}
}

// write consumes samples, calling emit for each utterance it completes. An
// error from emit stops the write and is returned.
func (s *splitter) write(samples []int16, emit func(utterance) error) error {
	if len(s.carry) > 0 {
		n := min(s.frameLen-len(s.carry), len(samples))
		s.carry = append(s.carry, samples[:n]...)
		samples = samples[n:]
		if len(s.carry) < s.frameLen {
			return nil
		}
		if err := s.frame(s.carry, emit); err != nil {
			return err
		}
		s.carry = s.carry[:0]
	}
	for len(samples) >= s.frameLen {
		if err := s.frame(samples[:s.frameLen], emit); err != nil {
			return err
		}
		samples = samples[s.frameLen:]
	}
	s.carry = append(s.carry, samples...)
	return nil
}

// close ends the stream, emitting the utterance in progress, if any. A
// trailing part frame counts as silence.
func (s *splitter) close(emit func(utterance) error) error {
	s.buf = append(s.buf, s.carry...)
	s.carry = s.carry[:0]
	return s.finish(emit)
}

func (s *splitter) frame(f []int16, emit func(utterance) error) error {
	e := energyDBFS(f)
	speech := e > s.floor+speechOverFloorDB && e > minSpeechDBFS
	s.floor = math.Min(s.floor+floorRiseDBPerFrame, e)
	end := s.start + int64(len(s.buf)) // stream offset of f[0]
	s.buf = append(s.buf, f...)

	if !s.inUtt {
		if speech {
			s.inUtt = true
			s.speech, s.silent = 1, 0
			s.speechFrom, s.speechTo = end, end+int64(len(f))
			if excess := len(s.buf) - len(f) - s.padLen; excess > 0 {
				s.drop(excess)
			}
			return nil
		}
		// Keep only the padding that would precede speech starting
		// next frame; trimming at twice the padding keeps the copying
		// amortised.
		if len(s.buf) >= 2*s.padLen+s.frameLen {
			s.drop(len(s.buf) - s.padLen)
		}
		return nil
	}
	if speech {
		s.speech++
		s.silent = 0
		s.speechTo = end + int64(len(f))
	} else {
		s.silent++
	}
	switch {
	case s.silent >= s.pauseLen:
		return s.finish(emit)
	case len(s.buf) >= s.maxLen:
		// No pause in MaxUtterance: cut here. The next speech frame
		// starts a new utterance, without leading padding.
		return s.finish(emit)
	}
	return nil
}

// finish emits the current utterance, trimmed to padLen after its last
// speech frame, and keeps what follows as the next utterance's leading
// padding.
func (s *splitter) finish(emit func(utterance) error) error {
	if !s.inUtt {
		return nil
	}
	s.inUtt = false
	cut := min(int(s.speechTo-s.start)+s.padLen, len(s.buf))
	var err error
	if s.speech >= s.minSpeech {
		err = emit(utterance{
			Samples:     s.buf[:cut],
			Start:       s.start,
			SpeechStart: s.speechFrom,
			SpeechEnd:   s.speechTo,
		})
	}
	s.drop(max(cut, len(s.buf)-s.padLen))
	return err
}

// drop discards the first n buffered samples.
func (s *splitter) drop(n int) {
	copy(s.buf, s.buf[n:])
	s.buf = s.buf[:len(s.buf)-n]
	s.start += int64(n)
}

// energyDBFS is a frame's mean power relative to a full-scale square wave,
// in dB; digital silence is -100.
func energyDBFS(f []int16) float64 {
	var sum float64
	for _, v := range f {
		x := float64(v)
		sum += x * x
	}
	p := sum / float64(len(f)) / (32768 * 32768)
	if p < 1e-10 {
		return -100
	}
	return 10 * math.Log10(p)
}
