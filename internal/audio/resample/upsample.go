// Package resample converts Amazon Connect's 8 kHz telephone audio to the
// 16 kHz that wide-band speech recognisers are trained on, and holds the
// small telephone filters that go with it.
//
// Everything here streams: filters keep their history between calls, write
// into slices the caller owns (Process(dst, src) int) and do not allocate
// after construction.
package resample

import (
	"fmt"
	"math"
)

// Filter design of the 8 → 16 kHz interpolator, at the 16 kHz output rate.
// The pass band must reach the top of the telephone band (3.4 kHz) and the
// stop band must begin by 4 kHz, where the images of the 8 kHz spectrum
// start: a tone at f below 4 kHz leaves an image at 8 kHz − f.
const (
	upRate     = 16000.0
	upCutoffHz = 3750.0 // −6 dB point, midway through the transition band
	upStopDB   = 80.0   // Kaiser design attenuation: leaves 20 dB over the 60 dB asked for
	// upHalf is K: the filter has 4K+1 taps, each of the two polyphase
	// branches 2K+1, and the delay is 2K output samples (K input samples).
	// K = 40 gives a ≈ 500 Hz transition (3.5 to 4.0 kHz) at 80 dB.
	upHalf = 40
	// upBlock is how many input samples are filtered per inner pass; the
	// working buffer is sized for it once, so calls of any length run
	// without allocating.
	upBlock = 1024
)

// Upsampler doubles the sample rate of 16-bit mono PCM with a polyphase
// windowed-sinc (Kaiser) low-pass filter, so the spectral images between
// 4 and 8 kHz that plain sample repetition or linear interpolation leave
// behind are attenuated by more than 60 dB. The recogniser would
// otherwise hear them as high-frequency energy that telephone speech never
// has.
//
// The output lags the input by Delay() output samples. An Upsampler keeps
// its history between calls, so a stream may be fed in chunks of any size
// with the same result as in one call. It is not safe for concurrent use.
type Upsampler struct {
	// even and odd are the two polyphase branches, reversed so that
	// each output sample is a forward dot product over the buffer.
	even, odd []float32
	// buf holds the last taps-1 input samples followed by up to upBlock
	// new ones.
	buf []float32
}

// NewUpsampler returns an 8 → 16 kHz upsampler with empty (silent) history.
func NewUpsampler() *Upsampler {
	h := lowPass(4*upHalf+1, upCutoffHz/upRate, kaiserBeta(upStopDB))
	taps := 2*upHalf + 1
	u := &Upsampler{
		even: make([]float32, taps),
		odd:  make([]float32, taps),
		buf:  make([]float32, taps-1+upBlock),
	}
	// Branch p takes taps h[2j+p]. Each branch is normalised to a sum of
	// exactly 1 (the interpolation gain of 2 shared evenly), so DC passes
	// unchanged on both even and odd output samples, not just on average.
	var se, so float64
	for j := 0; j < taps; j++ {
		se += h[2*j]
		if 2*j+1 < len(h) {
			so += h[2*j+1]
		}
	}
	for j := 0; j < taps; j++ {
		u.even[taps-1-j] = float32(h[2*j] / se)
		if 2*j+1 < len(h) {
			u.odd[taps-1-j] = float32(h[2*j+1] / so)
		}
	}
	return u
}

// Delay is the filter's group delay in output (16 kHz) samples: output
// sample i corresponds to input sample (i-Delay())/2.
func (u *Upsampler) Delay() int { return 2 * upHalf }

// Reset clears the history, as for the start of a new stream.
func (u *Upsampler) Reset() { clear(u.buf) }

// Process upsamples src into dst and returns the number of samples written,
// always 2*len(src). dst must hold at least 2*len(src) samples; a shorter
// dst is a programming error and panics. dst and src must not overlap.
func (u *Upsampler) Process(dst, src []int16) int {
	if len(dst) < 2*len(src) {
		panic(fmt.Sprintf("resample: Upsampler.Process: dst holds %d samples, need %d", len(dst), 2*len(src)))
	}
	hist := len(u.even) - 1
	n := 0
	for len(src) > 0 {
		m := min(len(src), upBlock)
		for i, s := range src[:m] {
			u.buf[hist+i] = float32(s)
		}
		out := dst[2*n : 2*(n+m)]
		for i := 0; i < m; i++ {
			w := u.buf[i : i+hist+1]
			out[2*i] = toInt16(dot(u.even, w))
			out[2*i+1] = toInt16(dot(u.odd, w))
		}
		copy(u.buf, u.buf[m:m+hist])
		src = src[m:]
		n += m
	}
	return 2 * n
}

// Flush writes the Delay() samples still held in the filter, as if the
// stream were followed by silence, and returns how many it wrote. dst must
// hold at least Delay() samples. Flush does not reset the history.
func (u *Upsampler) Flush(dst []int16) int {
	var zeros [upHalf]int16
	return u.Process(dst, zeros[:])
}

// dot is the inner product of taps and w (len(w) >= len(taps)), unrolled by
// four: it is where the upsampler spends its time.
func dot(taps, w []float32) float32 {
	w = w[:len(taps)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(taps); i += 4 {
		s0 += taps[i] * w[i]
		s1 += taps[i+1] * w[i+1]
		s2 += taps[i+2] * w[i+2]
		s3 += taps[i+3] * w[i+3]
	}
	for ; i < len(taps); i++ {
		s0 += taps[i] * w[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// toInt16 rounds to the nearest sample and saturates: the filter's ringing
// can overshoot full scale on clipped input.
func toInt16(v float32) int16 {
	switch {
	case v >= math.MaxInt16:
		return math.MaxInt16
	case v <= math.MinInt16:
		return math.MinInt16
	case v >= 0:
		return int16(v + 0.5)
	default:
		return int16(v - 0.5)
	}
}

// lowPass returns an n-tap (n odd) linear-phase low-pass filter with the
// given cutoff (a fraction of the sample rate), Kaiser-windowed.
func lowPass(n int, cutoff, beta float64) []float64 {
	h := make([]float64, n)
	mid := float64(n-1) / 2
	i0b := besselI0(beta)
	for i := range h {
		t := float64(i) - mid
		sinc := 2 * cutoff
		if t != 0 {
			sinc = math.Sin(2*math.Pi*cutoff*t) / (math.Pi * t)
		}
		r := t / mid
		h[i] = sinc * besselI0(beta*math.Sqrt(1-r*r)) / i0b
	}
	return h
}

// kaiserBeta is Kaiser's empirical window parameter for a stop-band
// attenuation of a dB.
func kaiserBeta(a float64) float64 {
	switch {
	case a > 50:
		return 0.1102 * (a - 8.7)
	case a >= 21:
		return 0.5842*math.Pow(a-21, 0.4) + 0.07886*(a-21)
	default:
		return 0
	}
}

// besselI0 is the zeroth-order modified Bessel function of the first kind,
// by its power series, which converges quickly for the β of a window.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	q := x * x / 4
	for k := 1; k < 100; k++ {
		term *= q / float64(k*k)
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}
