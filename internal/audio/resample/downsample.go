package resample

import "fmt"

// Downsampler halves the sample rate of 16-bit mono PCM (16 → 8 kHz) with
// the Upsampler's low-pass filter, so that nothing above 4 kHz folds back
// into the telephone band. vmx uses it to make telephone audio out of
// wide-band recordings, e.g. in tests.
//
// Like the Upsampler it streams, keeps its history between calls and is
// not safe for concurrent use.
type Downsampler struct {
	taps []float32 // the low-pass prototype, reversed
	buf  []float32 // the last len(taps)-1 input samples, then a block
	due  bool      // the next input sample completes an output sample
}

// NewDownsampler returns a 16 → 8 kHz downsampler with silent history.
func NewDownsampler() *Downsampler {
	h := lowPass(4*upHalf+1, upCutoffHz/upRate, kaiserBeta(upStopDB))
	var sum float64
	for _, v := range h {
		sum += v
	}
	d := &Downsampler{taps: make([]float32, len(h)), buf: make([]float32, len(h)-1+upBlock), due: true}
	for i, v := range h {
		d.taps[len(h)-1-i] = float32(v / sum) // DC gain exactly 1
	}
	return d
}

// Delay is the filter's group delay in output (8 kHz) samples.
func (d *Downsampler) Delay() int { return upHalf }

// Reset clears the history, as for the start of a new stream.
func (d *Downsampler) Reset() {
	clear(d.buf)
	d.due = true
}

// OutLen is how many samples Process writes for n more input samples.
func (d *Downsampler) OutLen(n int) int {
	if d.due {
		return (n + 1) / 2
	}
	return n / 2
}

// Process downsamples src into dst and returns the number of samples
// written, OutLen(len(src)): one for every second input sample, the odd
// one out carried to the next call. dst must hold that many; a shorter dst
// panics. dst and src must not overlap.
func (d *Downsampler) Process(dst, src []int16) int {
	if need := d.OutLen(len(src)); len(dst) < need {
		panic(fmt.Sprintf("resample: Downsampler.Process: dst holds %d samples, need %d", len(dst), need))
	}
	hist := len(d.taps) - 1
	n := 0
	for len(src) > 0 {
		m := min(len(src), upBlock)
		for i, s := range src[:m] {
			d.buf[hist+i] = float32(s)
		}
		for i := 0; i < m; i++ {
			if d.due {
				dst[n] = toInt16(dot(d.taps, d.buf[i:i+hist+1]))
				n++
			}
			d.due = !d.due
		}
		copy(d.buf, d.buf[m:m+hist])
		src = src[m:]
	}
	return n
}
