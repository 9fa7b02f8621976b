package resample

import (
	"fmt"
	"math"
)

// BandPass is a telephone band filter: a second-order Butterworth
// high-pass followed by a second-order Butterworth low-pass (two biquads,
// 12 dB per octave each side). Its use before recognition is to strip mains
// hum, DC offset and handset rumble below the voice band, which carry
// energy but no words and which fool energy-based pause detection.
//
// It streams (the biquad state persists between calls) and is not safe for
// concurrent use.
type BandPass struct {
	hp, lp biquad
}

// NewBandPass returns a band-pass filter for audio at sampleRate passing
// lowHz to highHz (−3 dB points), e.g. NewBandPass(8000, 300, 3400).
// highHz at or above the Nyquist frequency leaves out the low-pass.
func NewBandPass(sampleRate, lowHz, highHz float64) (*BandPass, error) {
	if sampleRate <= 0 || lowHz <= 0 || highHz <= lowHz {
		return nil, fmt.Errorf("resample: band %g–%g Hz at %g Hz is not a band", lowHz, highHz, sampleRate)
	}
	if lowHz >= sampleRate/2 {
		return nil, fmt.Errorf("resample: band start %g Hz is above the Nyquist frequency of %g Hz", lowHz, sampleRate/2)
	}
	b := &BandPass{hp: newBiquad(sampleRate, lowHz, true)}
	if highHz < sampleRate/2 {
		b.lp = newBiquad(sampleRate, highHz, false)
	} else {
		b.lp = biquad{b0: 1} // pass-through
	}
	return b, nil
}

// Process filters src into dst and returns len(src). dst may be src
// (filtering in place) but must otherwise not overlap it, and must hold
// len(src) samples; a shorter dst panics.
func (b *BandPass) Process(dst, src []int16) int {
	if len(dst) < len(src) {
		panic(fmt.Sprintf("resample: BandPass.Process: dst holds %d samples, need %d", len(dst), len(src)))
	}
	for i, s := range src {
		v := b.lp.step(b.hp.step(float64(s)))
		dst[i] = toInt16(float32(v))
	}
	return len(src)
}

// Reset clears the filter state, as for the start of a new stream.
func (b *BandPass) Reset() {
	b.hp.x1, b.hp.x2, b.hp.y1, b.hp.y2 = 0, 0, 0, 0
	b.lp.x1, b.lp.x2, b.lp.y1, b.lp.y2 = 0, 0, 0, 0
}

// biquad is a direct-form-I second-order section, normalised so a0 = 1.
// Direct form I in float64 is used because its state cannot overflow and
// its rounding noise is far below 16-bit resolution at these frequencies.
type biquad struct {
	b0, b1, b2, a1, a2 float64
	x1, x2, y1, y2     float64
}

// newBiquad designs a Butterworth (Q = 1/√2) high- or low-pass section by
// the bilinear transform (Robert Bristow-Johnson's audio EQ cookbook).
func newBiquad(rate, f float64, highPass bool) biquad {
	w := 2 * math.Pi * f / rate
	cos, alpha := math.Cos(w), math.Sin(w)/math.Sqrt2 // sin(w)/(2Q), Q = 1/√2
	a0 := 1 + alpha
	var q biquad
	if highPass {
		q.b0, q.b1, q.b2 = (1+cos)/2, -(1 + cos), (1+cos)/2
	} else {
		q.b0, q.b1, q.b2 = (1-cos)/2, 1-cos, (1-cos)/2
	}
	q.a1, q.a2 = -2*cos, 1-alpha
	q.b0, q.b1, q.b2, q.a1, q.a2 = q.b0/a0, q.b1/a0, q.b2/a0, q.a1/a0, q.a2/a0
	return q
}

func (q *biquad) step(x float64) float64 {
	y := q.b0*x + q.b1*q.x1 + q.b2*q.x2 - q.a1*q.y1 - q.a2*q.y2
	q.x2, q.x1 = q.x1, x
	q.y2, q.y1 = q.y1, y
	return y
}
