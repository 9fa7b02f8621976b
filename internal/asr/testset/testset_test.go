package testset

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func sine(freq, rate float64, n int, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amp * math.Sin(2*math.Pi*freq*float64(i)/rate))
	}
	return out
}

func rms(x []int16) float64 {
	var p float64
	for _, s := range x[len(x)/4 : 3*len(x)/4] { // skip the filter's edges
		p += float64(s) * float64(s)
	}
	return math.Sqrt(p / float64(len(x)/2))
}

func TestTelephoneKeepsTheSpeechBand(t *testing.T) {
	pass := Telephone(sine(1000, 16000, 16000, 10000))
	if r := rms(pass) / (10000 / math.Sqrt2); r < 0.9 || r > 1.1 || len(pass) != 8000 {
		t.Fatalf("1 kHz through the telephone line: gain %.3f, %d samples", r, len(pass))
	}
	// 6 kHz would fold to 2 kHz at 8 kHz: the line must not carry it.
	if db := 20 * math.Log10(rms(Telephone(sine(6000, 16000, 16000, 10000)))/(10000/math.Sqrt2)); db > -40 {
		t.Fatalf("6 kHz leaks through at %.1f dB", db)
	}
}

func TestBuildHuman(t *testing.T) {
	if _, err := os.Stat(HumanDir); err != nil {
		t.Skip("pocketsphinx-testdata not installed")
	}
	path, err := BuildHuman(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ReadManifest(path)
	// 5 librivox and 5 cards clips, goforward, something and a tidigits
	// clip.
	if err != nil || len(entries) != 13 || entries[0].Text == "" {
		t.Fatalf("%d entries %+v: %v", len(entries), entries, err)
	}
	if last := entries[12]; last.Text != "two nine three four zero" {
		t.Errorf("last entry %+v, want the tidigits clip", last)
	}
	// Every clip is telephone audio with speech in it.
	for _, e := range entries {
		pcm, rate, err := readMono(e.Audio)
		if err != nil || rate != 8000 || len(pcm) < 8000 {
			t.Errorf("%s: %d samples at %d Hz: %v", e.Audio, len(pcm), rate, err)
		}
	}
}

func TestMuLaw(t *testing.T) {
	for _, s := range []int16{0, 1, -1, 100, -100, 1000, -1000, 32767, -32768} {
		got := muLawDecode(muLawEncode(s))
		if d := math.Abs(float64(got) - float64(s)); d > math.Max(8, math.Abs(float64(s))/16) {
			t.Errorf("µ-law round trip of %d gave %d", s, got)
		}
	}
}

func TestAddNoiseSNR(t *testing.T) {
	clean := sine(440, 8000, 8000, 8000)
	noisy := append([]int16(nil), clean...)
	AddNoise(noisy, 15, rand.New(rand.NewPCG(1, 2)))
	var ps, pn float64
	for i := range clean {
		ps += float64(clean[i]) * float64(clean[i])
		d := float64(noisy[i]) - float64(clean[i])
		pn += d * d
	}
	if snr := 10 * math.Log10(ps/pn); snr < 14 || snr > 16 {
		t.Fatalf("SNR %.1f dB, want 15", snr)
	}
}

func TestBuildAndReadManifest(t *testing.T) {
	if _, err := exec.LookPath("flite"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("flite missing in CI")
		}
		t.Skip("flite not installed")
	}
	dir := t.TempDir()
	path, err := Build(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ReadManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(Sentences())*len(Voices()) {
		t.Fatalf("%d entries", len(entries))
	}
	pcm, rate, err := readMono(entries[5].Audio)
	if err != nil || rate != 8000 || len(pcm) < 8000 || filepath.Dir(entries[5].Audio) != dir {
		t.Fatalf("entry %+v: rate %d, %d samples, %v", entries[5], rate, len(pcm), err)
	}
}
