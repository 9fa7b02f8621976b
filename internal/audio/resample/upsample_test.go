package resample

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// sine returns n samples of a sine of the given frequency and peak
// amplitude at rate.
func sine(n int, rate, hz, amp float64) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(math.Round(amp * math.Sin(2*math.Pi*hz*float64(i)/rate)))
	}
	return s
}

// amplitude is the peak amplitude of the component of x at hz (x sampled at
// rate), by the Goertzel algorithm: one DFT bin, one multiply per sample.
// Callers pass a whole number of seconds, so whole-hertz components are
// orthogonal and leak nothing into each other.
func amplitude(x []int16, rate, hz float64) float64 {
	c := 2 * math.Cos(2*math.Pi*hz/rate)
	var s1, s2 float64
	for _, v := range x {
		s1, s2 = float64(v)+c*s1-s2, s1
	}
	p := s1*s1 + s2*s2 - c*s1*s2
	return 2 * math.Sqrt(math.Max(p, 0)) / float64(len(x))
}

func db(ratio float64) float64 { return 20 * math.Log10(ratio) }

func upsample(src []int16) []int16 {
	u := NewUpsampler()
	dst := make([]int16, 2*len(src))
	u.Process(dst, src)
	return dst
}

// steady drops the filter's start-up transient and keeps exactly one second
// of 16 kHz output.
func steady(out []int16) []int16 { return out[1600 : 1600+16000] }

func TestUpsamplerKeepsToneAmplitudeAndFrequency(t *testing.T) {
	const amp = 16000.0
	for _, hz := range []float64{300, 1000, 2000, 3000, 3400} {
		out := steady(upsample(sine(8000*12/10, 8000, hz, amp)))
		got := amplitude(out, 16000, hz)
		if d := db(got / amp); math.Abs(d) > 0.5 {
			t.Errorf("%g Hz: gain %.3f dB, want within 0.5 dB", hz, d)
		}
		// The frequency is kept: the strongest whole-hertz component
		// near the tone is the tone.
		best, bestHz := 0.0, 0.0
		for f := hz - 50; f <= hz+50; f++ {
			if a := amplitude(out, 16000, f); a > best {
				best, bestHz = a, f
			}
		}
		if bestHz != hz {
			t.Errorf("%g Hz: output peaks at %g Hz", hz, bestHz)
		}
		if hz == 1000 {
			// and it crosses zero upwards 1000 times a second.
			ups := 0
			for i := 1; i < len(out); i++ {
				if out[i-1] < 0 && out[i] >= 0 {
					ups++
				}
			}
			if ups < 999 || ups > 1001 {
				t.Errorf("1 kHz: %d upward zero crossings in 1 s", ups)
			}
		}
	}
}

func TestUpsamplerAttenuatesImages(t *testing.T) {
	const amp = 16000.0
	for _, hz := range []float64{300, 1000, 2000, 3000, 3400} {
		out := steady(upsample(sine(8000*12/10, 8000, hz, amp)))
		tone := amplitude(out, 16000, hz)
		// The image a zero-stuffing upsampler leaves at 8 kHz − f, and
		// then everything above 4 kHz on a 10 Hz grid.
		worstHz, worst := 8000-hz, amplitude(out, 16000, 8000-hz)
		for f := 4010.0; f < 8000; f += 10 {
			if a := amplitude(out, 16000, f); a > worst {
				worst, worstHz = a, f
			}
		}
		att := -db(worst / tone)
		t.Logf("%g Hz tone: strongest component above 4 kHz at %g Hz, %.1f dB down", hz, worstHz, att)
		if att < 60 {
			t.Errorf("%g Hz tone: component at %g Hz only %.1f dB down, want >= 60 dB", hz, worstHz, att)
		}
	}
}

func TestUpsamplerFilterDesign(t *testing.T) {
	// The continuous response of the 16 kHz prototype: flat to 3.4 kHz,
	// >= 60 dB down from 4 kHz to Nyquist.
	u := NewUpsampler()
	resp := func(hz float64) float64 {
		var re, im float64
		w := 2 * math.Pi * hz / 16000
		// Reassemble the prototype from the two reversed branches:
		// h[2j] = even[taps-1-j], h[2j+1] = odd[taps-1-j].
		taps := len(u.even)
		for j := 0; j < taps; j++ {
			for p, br := range [][]float32{u.even, u.odd} {
				k := float64(2*j + p)
				v := float64(br[taps-1-j])
				re += v * math.Cos(w*k)
				im -= v * math.Sin(w*k)
			}
		}
		return math.Hypot(re, im) / 2 // the branches sum to 2 at DC
	}
	for f := 0.0; f <= 3400; f += 50 {
		if d := db(resp(f)); math.Abs(d) > 0.1 {
			t.Errorf("pass band: %g Hz at %.3f dB", f, d)
		}
	}
	for f := 4000.0; f <= 8000; f += 25 {
		if d := db(resp(f)); d > -60 {
			t.Errorf("stop band: %g Hz at %.1f dB", f, d)
		}
	}
}

func TestUpsamplerDCGainIsOne(t *testing.T) {
	for _, c := range []int16{1, -1, 1000, -12345, math.MaxInt16, math.MinInt16} {
		src := make([]int16, 400)
		for i := range src {
			src[i] = c
		}
		out := upsample(src)
		for i, v := range out[NewUpsampler().Delay()*2:] {
			if v != c {
				t.Fatalf("DC %d: output[%d] = %d", c, i, v)
			}
		}
	}
}

func TestUpsamplerChunkedEqualsOneShot(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	src := make([]int16, 20000)
	for i := range src {
		src[i] = int16(rng.IntN(65536) - 32768)
	}
	want := upsample(src)

	u := NewUpsampler()
	got := make([]int16, 0, len(want))
	buf := make([]int16, 2*5000)
	for rest := src; len(rest) > 0; {
		// Sizes around the internal block size, and empty calls.
		n := min(len(rest), []int{0, 1, 7, upBlock - 1, upBlock, upBlock + 1, 5000}[rng.IntN(7)])
		m := u.Process(buf, rest[:n])
		if m != 2*n {
			t.Fatalf("Process of %d samples wrote %d", n, m)
		}
		got = append(got, buf[:m]...)
		rest = rest[n:]
	}
	if !slices.Equal(got, want) {
		t.Fatal("chunked output differs from one-shot output")
	}
}

func TestUpsamplerFlushAndReset(t *testing.T) {
	src := sine(800, 8000, 440, 8000)
	u := NewUpsampler()
	out := make([]int16, 2*len(src)+u.Delay())
	n := u.Process(out, src)
	n += u.Flush(out[n:])
	if n != len(out) {
		t.Fatalf("wrote %d samples, want %d", n, len(out))
	}
	// Delay-compensated, the flushed output lines up with the input:
	// even output samples reproduce the (band-limited) input.
	aligned := out[u.Delay():]
	for i := 100; i < len(src)-100; i++ {
		if d := int(aligned[2*i]) - int(src[i]); d > 2 || d < -2 {
			t.Fatalf("aligned output[%d] = %d, input %d", 2*i, aligned[2*i], src[i])
		}
	}
	// After Reset the upsampler starts from silence again.
	u.Reset()
	again := make([]int16, 2*len(src))
	u.Process(again, src)
	if !slices.Equal(again, out[:2*len(src)]) {
		t.Fatal("output after Reset differs from a fresh upsampler's")
	}
}

func TestUpsamplerShortDstPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a short dst")
		}
	}()
	NewUpsampler().Process(make([]int16, 3), make([]int16, 2))
}

func TestBandPass(t *testing.T) {
	const amp = 10000.0
	cases := []struct {
		hz         float64
		minDB, max float64
	}{
		{1000, -0.5, 0.5},   // mid band
		{300, -3.5, -2.5},   // −3 dB edge
		{3400, -3.5, -2.5},  // −3 dB edge
		{50, -100, -25},     // mains hum: ≈ −31 dB at 12 dB/octave
		{3900, -100, -10.0}, // near Nyquist
	}
	for _, c := range cases {
		bp, err := NewBandPass(8000, 300, 3400)
		if err != nil {
			t.Fatal(err)
		}
		x := sine(16000, 8000, c.hz, amp)
		bp.Process(x, x) // in place
		got := db(amplitude(x[8000:], 8000, c.hz) / amp)
		if got < c.minDB || got > c.max {
			t.Errorf("%g Hz: %.2f dB, want %g to %g", c.hz, got, c.minDB, c.max)
		}
	}
	bp, _ := NewBandPass(8000, 300, 3400)
	dc := make([]int16, 8000)
	for i := range dc {
		dc[i] = 5000
	}
	bp.Process(dc, dc)
	if v := dc[len(dc)-1]; v != 0 {
		t.Errorf("DC is not removed: last sample %d", v)
	}
	if _, err := NewBandPass(8000, 3400, 300); err == nil {
		t.Error("an inverted band was accepted")
	}
}

func BenchmarkUpsampler(b *testing.B) {
	src := sine(8000, 8000, 1000, 10000) // one second
	dst := make([]int16, 2*len(src))
	u := NewUpsampler()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		u.Process(dst, src)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(src)), "ns/insample")
}

func BenchmarkBandPass(b *testing.B) {
	src := sine(8000, 8000, 1000, 10000)
	dst := make([]int16, len(src))
	bp, _ := NewBandPass(8000, 300, 3400)
	b.ReportAllocs()
	for b.Loop() {
		bp.Process(dst, src)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(src)), "ns/sample")
}

func TestDownsamplerRejectsAliases(t *testing.T) {
	const amp = 16000.0
	for _, c := range []struct{ in, out float64 }{{1000, 1000}, {3000, 3000}, {5000, 3000}, {7000, 1000}} {
		d := NewDownsampler()
		src := sine(16000*12/10, 16000, c.in, amp)
		dst := make([]int16, d.OutLen(len(src)))
		d.Process(dst, src)
		got := db(amplitude(dst[800:800+8000], 8000, c.out) / amp)
		switch {
		case c.in < 4000 && math.Abs(got) > 0.5:
			t.Errorf("%g Hz passes at %.2f dB", c.in, got)
		case c.in > 4000 && got > -60:
			t.Errorf("%g Hz aliases to %g Hz at %.1f dB, want <= -60 dB", c.in, c.out, got)
		}
	}
}

func TestDownsamplerInvertsUpsampler(t *testing.T) {
	src := sine(4000, 8000, 1000, 12000)
	up := upsample(src)
	d := NewDownsampler()
	// Odd-sized chunks exercise the carried phase.
	var back []int16
	buf := make([]int16, 1000)
	for rest := up; len(rest) > 0; {
		n := min(len(rest), 333)
		m := d.Process(buf, rest[:n])
		back = append(back, buf[:m]...)
		rest = rest[n:]
	}
	if len(back) != len(src) {
		t.Fatalf("%d samples back from %d", len(back), len(src))
	}
	lag := NewUpsampler().Delay()/2 + d.Delay()
	for i := 200; i < len(src)-lag; i++ {
		if e := int(back[i+lag]) - int(src[i]); e > 2 || e < -2 {
			t.Fatalf("round trip: sample %d is %d, was %d", i, back[i+lag], src[i])
		}
	}
}

func BenchmarkDownsampler(b *testing.B) {
	src := sine(16000, 16000, 1000, 10000) // one second
	dst := make([]int16, len(src)/2)
	d := NewDownsampler()
	b.ReportAllocs()
	for b.Loop() {
		d.Process(dst, src)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(src)), "ns/insample")
}
