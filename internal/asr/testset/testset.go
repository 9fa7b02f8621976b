// Package testset builds vmx's own telephone speech test set: the
// project's voicemail sentences spoken by flite voices, brought to 8 kHz,
// passed through G.711 µ-law as a phone line does, some with noise; and it
// reads manifests of (audio, reference text) for `vmx bench asr`.
package testset

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/vmx-dev/vmx/internal/wav"
)

//go:embed sentences.txt
var sentencesFile string

// Sentences returns the project's voicemail sentences.
func Sentences() []string {
	var out []string
	for _, l := range strings.Split(sentencesFile, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// Entry is one line of a manifest: a WAV file and what is said in it.
type Entry struct {
	Audio string `json:"audio"` // relative to the manifest's directory
	Text  string `json:"text"`
}

// ReadManifest reads JSON lines of entries and resolves their paths.
func ReadManifest(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Entry
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var e Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil || e.Audio == "" {
			return nil, fmt.Errorf("%s:%d: want {\"audio\": …, \"text\": …}", path, n)
		}
		if !filepath.IsAbs(e.Audio) {
			e.Audio = filepath.Join(filepath.Dir(path), e.Audio)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// Voices are the flite voices of the set: kal speaks at 8 kHz, the others
// at 16 kHz.
func Voices() []string { return []string{"kal", "awb", "rms", "slt"} }

// Build writes the test set into dir: one WAV per sentence and voice, every
// third one with noise at 15 dB SNR, and manifest.jsonl. It needs flite.
func Build(ctx context.Context, dir string) (string, error) {
	if _, err := exec.LookPath("flite"); err != nil {
		return "", fmt.Errorf("testset: flite is needed (apt-get install flite): %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var manifest bytes.Buffer
	rng := rand.New(rand.NewPCG(7, 7))
	n := 0
	for i, text := range Sentences() {
		for _, voice := range Voices() {
			raw := filepath.Join(dir, "flite.tmp.wav")
			if out, err := exec.CommandContext(ctx, "flite", "-voice", voice, "-t", text, "-o", raw).CombinedOutput(); err != nil {
				return "", fmt.Errorf("testset: flite %s: %v: %s", voice, err, out)
			}
			pcm, rate, err := readMono(raw)
			if err != nil {
				return "", err
			}
			if rate == 16000 {
				pcm = Decimate2(pcm)
			} else if rate != 8000 {
				return "", fmt.Errorf("testset: flite voice %s speaks at %d Hz", voice, rate)
			}
			if n%3 == 2 {
				AddNoise(pcm, 15, rng)
			}
			MuLawRoundTrip(pcm)
			name := fmt.Sprintf("%02d-%s.wav", i, voice)
			if err := writeWAV(filepath.Join(dir, name), pcm); err != nil {
				return "", err
			}
			line, _ := json.Marshal(Entry{Audio: name, Text: text})
			manifest.Write(append(line, '\n'))
			n++
		}
	}
	os.Remove(filepath.Join(dir, "flite.tmp.wav"))
	path := filepath.Join(dir, "manifest.jsonl")
	return path, os.WriteFile(path, manifest.Bytes(), 0o644)
}

func readMono(path string) ([]int16, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	r, err := wav.NewReader(f)
	if err != nil {
		return nil, 0, fmt.Errorf("testset: %s: %w", path, err)
	}
	if r.Format().Channels != 1 || r.Format().BitsPerSample != 16 {
		return nil, 0, fmt.Errorf("testset: %s: want mono 16-bit, got %+v", path, r.Format())
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, 0, err
	}
	pcm := make([]int16, len(b)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return pcm, r.Format().SampleRate, nil
}

func writeWAV(path string, pcm []int16) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w, err := wav.NewWriter(f, wav.Telephone, int64(2*len(pcm)))
	if err == nil {
		b := make([]byte, 2*len(pcm))
		for i, s := range pcm {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
		}
		_, err = w.Write(b)
		if err == nil {
			err = w.Close()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Decimate2 halves the sample rate with a windowed-sinc low-pass (cut-off
// at 0.45 of the new Nyquist band's edge), so 16 kHz speech becomes 8 kHz
// telephone audio without aliasing.
func Decimate2(in []int16) []int16 {
	const taps = 63
	const cutoff = 0.45 * 0.5 // of the input rate: 3.6 kHz at 16 kHz
	h := make([]float64, taps)
	var sum float64
	for i := range h {
		x := float64(i - taps/2)
		s := 2 * cutoff
		if x != 0 {
			s = math.Sin(2*math.Pi*cutoff*x) / (math.Pi * x)
		}
		w := 0.42 - 0.5*math.Cos(2*math.Pi*float64(i)/(taps-1)) + 0.08*math.Cos(4*math.Pi*float64(i)/(taps-1)) // Blackman
		h[i] = s * w
		sum += h[i]
	}
	out := make([]int16, len(in)/2)
	for o := range out {
		var acc float64
		for k, c := range h {
			if j := 2*o + k - taps/2; j >= 0 && j < len(in) {
				acc += c * float64(in[j])
			}
		}
		out[o] = clamp(acc / sum)
	}
	return out
}

// MuLawRoundTrip encodes every sample to G.711 µ-law and back, as a phone
// line does.
func MuLawRoundTrip(pcm []int16) {
	for i, s := range pcm {
		pcm[i] = muLawDecode(muLawEncode(s))
	}
}

func muLawEncode(s int16) byte {
	const bias, clip = 0x84, 32635
	x := int(s)
	sign := 0
	if x < 0 {
		x, sign = -x, 0x80
	}
	x = min(x, clip) + bias
	exp := 7
	for mask := 0x4000; x&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (x >> (exp + 3)) & 0x0F
	return ^byte(sign | exp<<4 | mant)
}

func muLawDecode(u byte) int16 {
	u = ^u
	t := (int(u&0x0F)<<3 + 0x84) << ((u & 0x70) >> 4)
	if u&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}

// AddNoise adds white noise at snrDB below the signal's power.
func AddNoise(pcm []int16, snrDB float64, rng *rand.Rand) {
	var p float64
	for _, s := range pcm {
		p += float64(s) * float64(s)
	}
	if len(pcm) == 0 || p == 0 {
		return
	}
	sigma := math.Sqrt(p / float64(len(pcm)) / math.Pow(10, snrDB/10))
	for i, s := range pcm {
		pcm[i] = clamp(float64(s) + rng.NormFloat64()*sigma)
	}
}

func clamp(v float64) int16 {
	return int16(max(-32768, min(32767, math.Round(v))))
}
