package vad

import "math"

// upTaps is the half-length of the upsampler's interpolation filter: the
// output lags the input by upTaps input samples (1 ms at 8 kHz).
const upTaps = 8

// upsampler doubles the rate of a 16-bit stream into float samples in
// [-1, 1): each input sample passes through and a windowed-sinc half-band
// filter interpolates the sample between it and the next, so nothing is
// added above the input's Nyquist frequency beyond the filter's leakage.
type upsampler struct {
	coef [upTaps]float32
	hist [4 * upTaps]float32 // the last 2·upTaps inputs, stored twice
	pos  int
}

func newUpsampler() *upsampler {
	u := &upsampler{}
	var sum float64
	c := make([]float64, upTaps)
	for j := range c {
		t := float64(j) + 0.5
		w := 0.42 + 0.5*math.Cos(math.Pi*t/upTaps) + 0.08*math.Cos(2*math.Pi*t/upTaps)
		c[j] = math.Sin(math.Pi*t) / (math.Pi * t) * w
		sum += 2 * c[j]
	}
	for j := range c {
		u.coef[j] = float32(c[j] / sum) // unity gain at DC
	}
	return u
}

func (u *upsampler) reset() {
	clear(u.hist[:])
	u.pos = 0
}

// process writes 2·len(src) samples to dst, which must hold them, and
// returns their number.
func (u *upsampler) process(dst []float32, src []int16) int {
	const l = 2 * upTaps
	dst = dst[:2*len(src)]
	for i, s := range src {
		x := float32(s) / 32768
		u.hist[u.pos], u.hist[u.pos+l] = x, x
		u.pos++
		if u.pos == l {
			u.pos = 0
		}
		w := u.hist[u.pos : u.pos+l] // oldest first
		var y float32
		for j, c := range u.coef {
			y += c * (w[upTaps-1-j] + w[upTaps+j])
		}
		dst[2*i], dst[2*i+1] = w[upTaps-1], y
	}
	return 2 * len(src)
}
