package pocketsphinx

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vmx-dev/vmx/internal/asr/lm"
	"github.com/vmx-dev/vmx/internal/asr/testset"
	"github.com/vmx-dev/vmx/internal/audio/resample"
)

// parsedMLLR is an MLLR file of one class as PocketSphinx reads it.
type parsedMLLR struct {
	a    [mllrStreams][mllrDim][mllrDim]float64
	b, h [mllrStreams][mllrDim]float64
}

func parseMLLR(t *testing.T, text []byte) parsedMLLR {
	t.Helper()
	f := strings.Fields(string(text))
	want := 2 + mllrStreams*(1+mllrDim*mllrDim+2*mllrDim)
	if len(f) != want || f[0] != "1" || f[1] != strconv.Itoa(mllrStreams) {
		t.Fatalf("MLLR file of %d numbers starting %q, want %d starting 1 class, %d streams", len(f), f[:min(2, len(f))], want, mllrStreams)
	}
	i := 2
	next := func() float64 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("number %d: %q", i, f[i])
		}
		i++
		return v
	}
	var m parsedMLLR
	for s := range mllrStreams {
		if n := next(); n != mllrDim {
			t.Fatalf("stream %d of length %g", s, n)
		}
		for r := range mllrDim {
			for c := range mllrDim {
				m.a[s][r][c] = next()
			}
		}
		for r := range mllrDim {
			m.b[s][r] = next()
		}
		for r := range mllrDim {
			m.h[s][r] = next()
		}
	}
	return m
}

func TestMLLRFiles(t *testing.T) {
	id := parseMLLR(t, identityMLLR())
	tel := parseMLLR(t, telephoneMLLR)
	for s := range mllrStreams {
		for r := range mllrDim {
			for c := range mllrDim {
				if want := float64(boolInt(r == c)); id.a[s][r][c] != want {
					t.Fatalf("identity A[%d][%d][%d] = %g", s, r, c, id.a[s][r][c])
				}
			}
			if id.b[s][r] != 0 || id.h[s][r] != 1 || tel.h[s][r] != 1 {
				t.Fatalf("stream %d row %d: identity bias %g scale %g, telephone scale %g", s, r, id.b[s][r], id.h[s][r], tel.h[s][r])
			}
			if s > 0 && tel.b[s][r] != 0 {
				t.Errorf("telephone bias of dynamic stream %d: %g", s, tel.b[s][r])
			}
		}
		// Deltas are linear in the cepstra: one matrix maps all three.
		if tel.a[s] != tel.a[0] {
			t.Errorf("telephone stream %d has its own matrix", s)
		}
	}
	// The channel shrinks the higher cepstra: a transform, not the
	// identity.
	if d := tel.a[0][12][12]; d > 0.9 || d < 0.3 {
		t.Errorf("telephone A[12][12] = %g", d)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestTelephoneMLLRFit makes telephoneMLLR: VMX_TELEPHONE_MLLR=update
// rewrites telephone.mllr, =check fails when the file differs from what
// this recipe makes; unset, the test skips (it takes a few minutes and
// needs flite and sphinx_fe: apt-get install flite sphinxbase-utils).
//
// Each of 200 generated voicemail sentences (lm.Sentences with a seed of
// its own, so none of the test sets' sentences) is spoken by flite's awb
// and rms voices at 16 kHz, and passed through the telephone channel
// (testset.Telephone) and back to 16 kHz as the engine upsamples it. The
// model's front end (sphinx_fe with its feat.params) computes the cepstra
// of both; after each utterance's mean is removed, least squares fits the
// telephone cepstra as a linear function of the wide-band ones. Mapping
// the model's means the same way moves them to where telephone speech
// lies.
func TestTelephoneMLLRFit(t *testing.T) {
	mode := os.Getenv("VMX_TELEPHONE_MLLR")
	if mode != "update" && mode != "check" {
		t.Skip("VMX_TELEPHONE_MLLR is not update or check")
	}
	for _, tool := range []string{"flite", "sphinx_fe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	for _, d := range []string{"wb", "tel"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for _, s := range lm.Sentences(12345, 200) {
		for _, v := range []string{"awb", "rms"} {
			wide, rate, err := testset.Speak(context.Background(), v, s, filepath.Join(dir, "flite.wav"))
			if err != nil || rate != 16000 {
				t.Fatalf("flite %s: %d Hz, %v", v, rate, err)
			}
			tel := alignTo(wide, upsample(testset.Telephone(slices.Clone(wide))))
			n := min(len(wide), len(tel))
			id := fmt.Sprintf("u%04d", len(ids))
			writeRaw(t, filepath.Join(dir, "wb", id+".raw"), wide[:n])
			writeRaw(t, filepath.Join(dir, "tel", id+".raw"), tel[:n])
			ids = append(ids, id)
		}
	}
	ctl := filepath.Join(dir, "ctl")
	if err := os.WriteFile(ctl, []byte(strings.Join(ids, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"wb", "tel"} {
		// The model's feat.params (the decoder's front end), without
		// the silence removal that would drop different frames from
		// the two sides.
		out, err := exec.Command("sphinx_fe", "-c", ctl, "-di", filepath.Join(dir, d), "-do", filepath.Join(dir, d),
			"-ei", "raw", "-eo", "mfc", "-raw", "yes", "-samprate", "16000", "-lowerf", "130", "-upperf", "6800",
			"-nfilt", "25", "-transform", "dct", "-lifter", "22", "-remove_silence", "no", "-remove_noise", "yes").CombinedOutput()
		if err != nil {
			t.Fatalf("sphinx_fe: %v: %s", err, out)
		}
	}
	var xs, ys [][mllrDim]float64
	for _, id := range ids {
		x := readMFC(t, filepath.Join(dir, "wb", id+".mfc"))
		y := readMFC(t, filepath.Join(dir, "tel", id+".mfc"))
		n := min(len(x), len(y))
		xs = append(xs, subtractMean(x[:n])...)
		ys = append(ys, subtractMean(y[:n])...)
	}
	a, bias := fitLinear(xs, ys)
	got := formatMLLR(&a, &bias)
	t.Logf("%d utterances, %d frames", len(ids), len(xs))
	if mode == "update" {
		if err := os.WriteFile("telephone.mllr", got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, have := parseMLLR(t, telephoneMLLR), parseMLLR(t, got)
	for r := range mllrDim {
		for c := range mllrDim {
			if d := math.Abs(want.a[0][r][c] - have.a[0][r][c]); d > 1e-3 {
				t.Errorf("A[%d][%d]: made %g, telephone.mllr has %g", r, c, have.a[0][r][c], want.a[0][r][c])
			}
		}
	}
}

// upsample makes 8 kHz audio 16 kHz as the engine does, delay-compensated.
func upsample(pcm []int16) []int16 {
	up := resample.NewUpsampler()
	w := make([]int16, 2*len(pcm)+up.Delay())
	n := up.Process(w, pcm)
	up.Flush(w[n:])
	return w[up.Delay():]
}

// alignTo shifts y by the lag (within ±100 samples) that best correlates
// it with x: the channel's band-pass delays the speech.
func alignTo(x, y []int16) []int16 {
	best, lag := math.Inf(-1), 0
	for l := -100; l <= 100; l++ {
		var c float64
		for j := 1000; j < len(x)-1000; j += 3 {
			if j+l >= 0 && j+l < len(y) {
				c += float64(x[j]) * float64(y[j+l])
			}
		}
		if c > best {
			best, lag = c, l
		}
	}
	if lag >= 0 {
		return y[lag:]
	}
	return append(make([]int16, -lag), y...)
}

func writeRaw(t *testing.T, path string, pcm []int16) {
	t.Helper()
	b := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// readMFC reads sphinx_fe's output: a little-endian int32 count of
// float32s, then the frames' cepstra.
func readMFC(t *testing.T, path string) [][mllrDim]float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 4 || int(binary.LittleEndian.Uint32(b))*4+4 != len(b) {
		t.Fatalf("%s: not a little-endian sphinx feature file", path)
	}
	var out [][mllrDim]float64
	for off := 4; off+4*mllrDim <= len(b); off += 4 * mllrDim {
		var v [mllrDim]float64
		for d := range mllrDim {
			v[d] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[off+4*d:])))
		}
		out = append(out, v)
	}
	return out
}

// subtractMean is the decoder's cepstral mean normalisation over an
// utterance.
func subtractMean(x [][mllrDim]float64) [][mllrDim]float64 {
	var mean [mllrDim]float64
	for _, v := range x {
		for d := range mllrDim {
			mean[d] += v[d] / float64(len(x))
		}
	}
	for i := range x {
		for d := range mllrDim {
			x[i][d] -= mean[d]
		}
	}
	return x
}

// fitLinear finds, for each output dimension, the least-squares
// y[d] ≈ Σ a[d][k]·x[k] + bias[d], by the normal equations.
func fitLinear(xs, ys [][mllrDim]float64) (a [mllrDim][mllrDim]float64, bias [mllrDim]float64) {
	const k = mllrDim + 1
	var xtx [k][k]float64
	var xty [mllrDim][k]float64
	for f := range xs {
		var row [k]float64
		copy(row[:], xs[f][:])
		row[mllrDim] = 1
		for i := range k {
			for j := range k {
				xtx[i][j] += row[i] * row[j]
			}
			for d := range mllrDim {
				xty[d][i] += row[i] * ys[f][d]
			}
		}
	}
	for d := range mllrDim {
		sol := solve(xtx, xty[d])
		copy(a[d][:], sol[:mllrDim])
		bias[d] = sol[mllrDim]
	}
	return a, bias
}

// solve solves m·x = v by Gaussian elimination with partial pivoting.
func solve(m [mllrDim + 1][mllrDim + 1]float64, v [mllrDim + 1]float64) [mllrDim + 1]float64 {
	const n = mllrDim + 1
	for i := range n {
		p := i
		for r := i + 1; r < n; r++ {
			if math.Abs(m[r][i]) > math.Abs(m[p][i]) {
				p = r
			}
		}
		m[i], m[p] = m[p], m[i]
		v[i], v[p] = v[p], v[i]
		for r := i + 1; r < n; r++ {
			f := m[r][i] / m[i][i]
			for c := i; c < n; c++ {
				m[r][c] -= f * m[i][c]
			}
			v[r] -= f * v[i]
		}
	}
	var x [n]float64
	for i := n - 1; i >= 0; i-- {
		s := v[i]
		for c := i + 1; c < n; c++ {
			s -= m[i][c] * x[c]
		}
		x[i] = s / m[i][i]
	}
	return x
}
