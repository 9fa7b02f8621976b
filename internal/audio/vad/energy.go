package vad

import (
	"fmt"
	"math"
	"time"
)

// EnergyConfig tunes [Energy]. Every field is optional: zero means the
// documented default.
type EnergyConfig struct {
	// Frame is the analysis frame, 10 to 50 ms; 20 ms by default (the
	// other defaults were tuned with it).
	Frame time.Duration
	// ThresholdDB is how far a frame's level must rise above the noise
	// floor to start speech; 9 dB by default.
	ThresholdDB float64
	// KeepDB is the smaller rise that keeps speech going once started
	// (hysteresis); ThresholdDB-4 by default, at most ThresholdDB.
	KeepDB float64
	// MinLevelDB is an absolute level below which nothing is speech, in dB
	// relative to a full-scale square wave (a full-scale sine is -3 dB);
	// -60 by default.
	MinLevelDB float64
	// Hangover is how long speech lasts through quieter frames before a
	// span ends; 100 ms by default, negative for none. Longer pauses are
	// joined later by Options.MinSilence.
	Hangover time.Duration
	// ToneRatio is the share of the band's energy (250-3500 Hz) in one or
	// two spectral peaks above which audio whose peaks hold still for
	// 100 ms is a tone (a beep, DTMF, a dial or ringback tone) and not
	// speech; 0.8 by default, negative to turn tone rejection off.
	ToneRatio float64
}

// Energy floor tracking: the floor of a frame is the lowest level in the
// floorBack before and floorAhead after it (minimum statistics). Speech
// rarely goes that long without a pause that shows the noise, and the
// lookahead finds the floor for speech that starts with the stream.
//
// Tone detection: the spectrum of the last toneWindow of audio, taken every
// frame, is a tone when one or two peaks (each its bin ± peakHalfBins, the
// Hann main lobe) hold ToneRatio of the energy in the band and their
// frequencies, refined between bins, move less than toneDriftHz from frame
// to frame for toneMin. A voice's harmonics drift with its pitch (measured
// on flite's four voices: at most 3 such 20 ms frames in a row), a generated
// tone does not.
const (
	floorBack    = 1500 * time.Millisecond
	floorAhead   = 500 * time.Millisecond
	silenceLevel = -90.0 // frames below this (digital silence) say nothing about the noise
	levelFloorDB = -120.0
	highPassHz   = 200.0 // the level leaves out mains hum and DC
	bandLowHz    = 250.0 // the telephone band, for tones
	bandHighHz   = 3500.0
	toneWindow   = 64 * time.Millisecond
	peakHalfBins = 2
	toneDriftHz  = 1.0
	toneMin      = 100 * time.Millisecond

	// A level steady within stationaryDB for stationaryMin is not speech:
	// on flite's voices at most 3 frames of speech in a row fall in such
	// stretches of 20 ms frames, and nearly every frame of white or pink
	// noise does.
	stationaryMin = 300 * time.Millisecond
	stationaryDB  = 3.0
)

// frameInfo is what Energy keeps of an analysed frame until it decides it.
type frameInfo struct {
	level  float64 // dB
	tone   bool
	single bool       // one peak holds ToneRatio of the band's energy
	dual   bool       // two peaks do
	peak   [2]float64 // their frequencies, Hz
}

// Energy is a pure-Go detector: a frame is speech when its level (above
// 200 Hz) stands above an adaptive noise floor and its spectrum is not a
// steady tone.
//
// The noise floor is the minimum level over 1.5 s before and 0.5 s after the
// frame, so the detector follows changing line noise and decides each frame
// 0.5 s after receiving it. A level that holds within 3 dB for 300 ms is
// noise whatever the floor (so a jump in line noise is not speech), and
// tones of one or two steady frequencies lasting 100 ms are not speech: the
// Connect beep, DTMF digits, dial, busy and ringback tones.
//
// Limits: loud non-stationary noise (traffic, babble, music) reads as
// speech; speech less than about 6 dB over the noise is missed; a sustained
// hum at a very steady pitch may be taken for a tone; speech within 64 ms
// after a tone may lose its first frames.
type Energy struct {
	rate      int
	frameLen  int
	thr, keep float64
	minLevel  float64
	hangover  int // frames
	toneRatio float64
	ahead     int // frames of lookahead
	toneRun   int // frames of steady peaks that make a tone
	steadyRun int // frames of steady level that make noise

	hp     biquad
	window []float64 // Hann, toneLen
	re, im []float64
	fft    *fft
	kLo    int
	kHi    int
	binHz  float64

	// stream state
	hist     []float64 // the last toneLen high-passed samples, a ring
	hpos     int
	inFrame  int     // samples of the current frame so far
	sum      float64 // their sum of squares
	ring     []frameInfo
	nframes  int64 // frames analysed
	ndone    int64 // frames decided
	samples  int64 // samples received
	steadyPk int   // frames in a row whose peaks continue the previous frame's
	speech   bool
	start    int64 // first frame of the open span
	last     int64 // last speech frame of the open span
}

// NewEnergy returns an energy detector for audio at rate samples per second
// (8000 to 48000).
func NewEnergy(rate int, cfg EnergyConfig) (*Energy, error) {
	if rate < 8000 || rate > 48000 {
		return nil, fmt.Errorf("vad: sample rate %d: must be 8000 to 48000", rate)
	}
	if cfg.Frame == 0 {
		cfg.Frame = 20 * time.Millisecond
	}
	if cfg.Frame < 10*time.Millisecond || cfg.Frame > 50*time.Millisecond {
		return nil, fmt.Errorf("vad: energy.frame: %v must be 10ms to 50ms", cfg.Frame)
	}
	if cfg.ThresholdDB == 0 {
		cfg.ThresholdDB = 9
	}
	if cfg.ThresholdDB < 0 {
		return nil, fmt.Errorf("vad: energy.threshold_db: %v must be positive", cfg.ThresholdDB)
	}
	if cfg.KeepDB == 0 {
		cfg.KeepDB = max(cfg.ThresholdDB-4, cfg.ThresholdDB/2)
	}
	if cfg.KeepDB < 0 || cfg.KeepDB > cfg.ThresholdDB {
		return nil, fmt.Errorf("vad: energy.keep_db: %v must be positive and at most threshold_db (%v)", cfg.KeepDB, cfg.ThresholdDB)
	}
	if cfg.MinLevelDB == 0 {
		cfg.MinLevelDB = -60
	}
	switch {
	case cfg.Hangover == 0:
		cfg.Hangover = 100 * time.Millisecond
	case cfg.Hangover < 0:
		cfg.Hangover = 0
	}
	switch {
	case cfg.ToneRatio == 0:
		cfg.ToneRatio = 0.8
	case cfg.ToneRatio > 1:
		return nil, fmt.Errorf("vad: energy.tone_ratio: %v must be at most 1", cfg.ToneRatio)
	}

	frameLen := int(int64(rate) * int64(cfg.Frame) / int64(time.Second))
	toneLen := 1
	for toneLen < int(int64(rate)*int64(toneWindow)/int64(time.Second)) {
		toneLen <<= 1
	}
	e := &Energy{
		rate:      rate,
		frameLen:  frameLen,
		thr:       cfg.ThresholdDB,
		keep:      cfg.KeepDB,
		minLevel:  cfg.MinLevelDB,
		hangover:  int(cfg.Hangover / cfg.Frame),
		toneRatio: cfg.ToneRatio,
		ahead:     int(floorAhead / cfg.Frame),
		toneRun:   int((toneMin + cfg.Frame - 1) / cfg.Frame),
		steadyRun: int((stationaryMin + cfg.Frame - 1) / cfg.Frame),
		hp:        highPass(highPassHz, float64(rate)),
		window:    make([]float64, toneLen),
		re:        make([]float64, toneLen),
		im:        make([]float64, toneLen),
		fft:       newFFT(toneLen),
		hist:      make([]float64, toneLen),
		ring:      make([]frameInfo, int((floorBack+floorAhead)/cfg.Frame)+1),
	}
	for i := range e.window {
		e.window[i] = 0.5 - 0.5*math.Cos(2*math.Pi*(float64(i)+0.5)/float64(toneLen))
	}
	e.binHz = float64(rate) / float64(toneLen)
	e.kLo = int(math.Ceil(bandLowHz / e.binHz))
	e.kHi = min(int(bandHighHz/e.binHz), toneLen/2-2)
	return e, nil
}

// SampleRate implements Detector.
func (e *Energy) SampleRate() int { return e.rate }

// String names the detector.
func (e *Energy) String() string { return EngineEnergy }

// Close implements Detector; it has nothing to release.
func (e *Energy) Close() error { return nil }

// Reset implements Detector.
func (e *Energy) Reset() {
	e.hp.reset()
	clear(e.hist)
	e.hpos, e.inFrame, e.sum = 0, 0, 0
	e.nframes, e.ndone, e.samples, e.steadyPk = 0, 0, 0, 0
	e.speech, e.start, e.last = false, 0, 0
}

// Detect implements Detector.
func (e *Energy) Detect(dst []Span, pcm []int16) []Span {
	e.samples += int64(len(pcm))
	for _, s := range pcm {
		y := e.hp.step(float64(s) / 32768)
		e.hist[e.hpos] = y
		e.hpos++
		if e.hpos == len(e.hist) {
			e.hpos = 0
		}
		e.sum += y * y
		e.inFrame++
		if e.inFrame < e.frameLen {
			continue
		}
		e.endFrame()
		if e.nframes > int64(e.ahead) {
			dst = e.decide(dst, e.nframes-1-int64(e.ahead))
		}
	}
	return dst
}

// Flush implements Detector. A final partial frame of at least half a frame
// is analysed as a frame.
func (e *Energy) Flush(dst []Span) []Span {
	if e.inFrame >= e.frameLen/2 {
		e.endFrame()
	}
	e.inFrame, e.sum = 0, 0
	for e.ndone < e.nframes {
		dst = e.decide(dst, e.ndone)
	}
	if e.speech {
		dst = append(dst, e.span(e.start, e.last))
		e.speech = false
	}
	return dst
}

// endFrame measures the frame just completed into the ring.
func (e *Energy) endFrame() {
	f := frameInfo{level: levelFloorDB}
	if ms := e.sum / float64(e.inFrame); ms > 0 {
		f.level = max(10*math.Log10(ms), levelFloorDB)
	}
	e.inFrame, e.sum = 0, 0
	if e.toneRatio > 0 && f.level > e.minLevel { // quieter frames are never speech
		e.toneFeatures(&f)
	}
	size := int64(len(e.ring))
	if e.nframes > 0 {
		prev := &e.ring[(e.nframes-1)%size]
		steady := f.single && prev.single && math.Abs(f.peak[0]-prev.peak[0]) < toneDriftHz
		steady = steady || f.dual && prev.dual &&
			(math.Abs(f.peak[0]-prev.peak[0]) < toneDriftHz && math.Abs(f.peak[1]-prev.peak[1]) < toneDriftHz ||
				math.Abs(f.peak[0]-prev.peak[1]) < toneDriftHz && math.Abs(f.peak[1]-prev.peak[0]) < toneDriftHz)
		if steady {
			e.steadyPk++
		} else {
			e.steadyPk = 0
		}
	}
	e.ring[e.nframes%size] = f
	if e.steadyPk >= e.toneRun-1 {
		// The run is a tone from its first frame, none of which is decided
		// yet: the lookahead is longer than toneMin.
		for j := max(e.nframes-int64(e.steadyPk), e.ndone); j <= e.nframes; j++ {
			e.ring[j%size].tone = true
		}
	}
	e.nframes++
}

// toneFeatures finds the one or two strongest spectral peaks of the last
// toneWindow and whether they hold toneRatio of the band's energy.
func (e *Energy) toneFeatures(f *frameInfo) {
	n := len(e.hist)
	for i := range n {
		e.re[i] = e.hist[(e.hpos+i)%n] * e.window[i]
	}
	clear(e.im)
	e.fft.transform(e.re, e.im)
	var total float64
	k1 := e.kLo
	for k := e.kLo - 1; k <= e.kHi+1; k++ {
		p := e.re[k]*e.re[k] + e.im[k]*e.im[k]
		e.re[k] = p // the power spectrum, for the peak search
		if k >= e.kLo && k <= e.kHi {
			total += p
			if p > e.re[k1] {
				k1 = k
			}
		}
	}
	if total <= 0 {
		return
	}
	k2 := -1
	for k := e.kLo; k <= e.kHi; k++ {
		if k-k1 > peakHalfBins || k1-k > peakHalfBins {
			if k2 < 0 || e.re[k] > e.re[k2] {
				k2 = k
			}
		}
	}
	c1 := e.cluster(k1, -1)
	f.peak[0] = e.peakHz(k1)
	f.single = c1 >= e.toneRatio*total
	if k2 >= 0 {
		f.peak[1] = e.peakHz(k2)
		f.dual = c1+e.cluster(k2, k1) >= e.toneRatio*total
	}
}

// cluster sums the power of bins k±peakHalfBins inside the band, leaving out
// those within reach of the peak at skip.
func (e *Energy) cluster(k, skip int) float64 {
	var c float64
	for i := max(k-peakHalfBins, e.kLo); i <= min(k+peakHalfBins, e.kHi); i++ {
		if skip >= 0 && i-skip <= peakHalfBins && skip-i <= peakHalfBins {
			continue
		}
		c += e.re[i]
	}
	return c
}

// peakHz refines the frequency of the peak at bin k by fitting a parabola
// to the log power of k and its neighbours.
func (e *Energy) peakHz(k int) float64 {
	a := math.Log(e.re[k-1] + 1e-30)
	b := math.Log(e.re[k] + 1e-30)
	c := math.Log(e.re[k+1] + 1e-30)
	d := 0.0
	if den := a - 2*b + c; den < 0 {
		d = 0.5 * (a - c) / den
	}
	return (float64(k) + d) * e.binHz
}

// decide classifies frame j, the oldest undecided one, against the noise
// floor of the frames around it still in the ring. A frame inside a steady
// stretch (stationaryMin of frames, before or after it, within
// stationaryDB) is held to that stretch's level as floor: a steady sound is
// noise or a tone, whatever the floor was, so a jump in line noise does not
// read as speech until the floor window has passed it.
func (e *Energy) decide(dst []Span, j int64) []Span {
	size := int64(len(e.ring))
	lo := max(0, e.nframes-size, j-(size-1-int64(e.ahead)))
	floor := 0.0
	found := false
	for i := lo; i < e.nframes; i++ {
		l := e.ring[i%size].level
		if l > silenceLevel && (!found || l < floor) {
			floor, found = l, true
		}
	}
	if !found {
		floor = silenceLevel
	}
	if m, ok := e.steady(j-int64(e.steadyRun)+1, j); ok {
		floor = max(floor, m)
	} else if m, ok := e.steady(j, j+int64(e.steadyRun)-1); ok {
		floor = max(floor, m)
	}
	f := &e.ring[j%size]
	margin := e.thr
	if e.speech {
		margin = e.keep
	}
	active := !f.tone && f.level > floor+margin && f.level > e.minLevel
	e.ndone = j + 1
	switch {
	case active && !e.speech:
		e.speech, e.start, e.last = true, j, j
	case active:
		e.last = j
	case e.speech && j-e.last > int64(e.hangover):
		dst = append(dst, e.span(e.start, e.last))
		e.speech = false
	}
	return dst
}

// steady reports whether the levels of frames first..last, all in the ring,
// stay within stationaryDB, and their minimum.
func (e *Energy) steady(first, last int64) (float64, bool) {
	size := int64(len(e.ring))
	if first < 0 || first < e.nframes-size || last >= e.nframes {
		return 0, false
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := first; i <= last; i++ {
		l := e.ring[i%size].level
		lo, hi = min(lo, l), max(hi, l)
		if hi-lo > stationaryDB {
			return 0, false
		}
	}
	return lo, true
}

// span converts frames first..last to milliseconds.
func (e *Energy) span(first, last int64) Span {
	end := min((last+1)*int64(e.frameLen), e.samples)
	return Span{StartMS: msOf(first*int64(e.frameLen), e.rate), EndMS: msOf(end, e.rate)}
}

var _ Detector = (*Energy)(nil)

// biquad is a second-order IIR filter (direct form I).
type biquad struct {
	b0, b1, b2, a1, a2 float64
	x1, x2, y1, y2     float64
}

// highPass is a Butterworth high-pass at hz (RBJ's audio EQ cookbook).
func highPass(hz, rate float64) biquad {
	const q = math.Sqrt2 / 2
	w := 2 * math.Pi * hz / rate
	alpha := math.Sin(w) / (2 * q)
	cos := math.Cos(w)
	a0 := 1 + alpha
	return biquad{
		b0: (1 + cos) / 2 / a0,
		b1: -(1 + cos) / a0,
		b2: (1 + cos) / 2 / a0,
		a1: -2 * cos / a0,
		a2: (1 - alpha) / a0,
	}
}

func (q *biquad) step(x float64) float64 {
	y := q.b0*x + q.b1*q.x1 + q.b2*q.x2 - q.a1*q.y1 - q.a2*q.y2
	q.x2, q.x1 = q.x1, x
	q.y2, q.y1 = q.y1, y
	return y
}

func (q *biquad) reset() { q.x1, q.x2, q.y1, q.y2 = 0, 0, 0, 0 }
