// Package testset builds speech test sets for `vmx bench asr`: vmx's own
// (the project's voicemail sentences spoken by flite voices, some with
// noise) and Debian's pocketsphinx-testdata human read speech, both made
// into telephone audio (8 kHz, 300–3400 Hz, G.711 µ-law); and it reads
// manifests of (audio, reference text).
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

	"github.com/vmx-dev/vmx/internal/audio/resample"
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
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var manifest bytes.Buffer
	rng := rand.New(rand.NewPCG(7, 7))
	n := 0
	for i, text := range Sentences() {
		for _, voice := range Voices() {
			pcm, rate, err := Speak(ctx, voice, text, filepath.Join(dir, "flite.tmp.wav"))
			if err != nil {
				return "", err
			}
			if n%3 == 2 {
				AddNoise(pcm, 15, rng)
			}
			if pcm, err = PhoneLine(pcm, rate); err != nil {
				return "", err
			}
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

// Speak has flite say text in voice ("" for flite's default) into the WAV
// file path and returns its samples at the voice's own rate: 8 kHz for
// kal, 16 kHz for the others.
func Speak(ctx context.Context, voice, text, path string) ([]int16, int, error) {
	if _, err := exec.LookPath("flite"); err != nil {
		return nil, 0, fmt.Errorf("testset: flite is needed (apt-get install flite): %w", err)
	}
	args := []string{"-t", text, "-o", path}
	if voice != "" {
		args = append([]string{"-voice", voice}, args...)
	}
	if out, err := exec.CommandContext(ctx, "flite", args...).CombinedOutput(); err != nil {
		return nil, 0, fmt.Errorf("testset: flite %s: %v: %s", voice, err, bytes.TrimSpace(out))
	}
	return readMono(path)
}

// PhoneLine makes flite's speech at rate what a caller's phone line
// delivers: 8 kHz, 300–3400 Hz, through G.711 µ-law.
func PhoneLine(pcm []int16, rate int) ([]int16, error) {
	switch rate {
	case 16000:
		return Telephone(pcm), nil
	case 8000:
		return Line(pcm), nil
	}
	return nil, fmt.Errorf("testset: flite spoke at %d Hz, want 8000 or 16000", rate)
}

func readMono(path string) ([]int16, int, error) {
	r, f, err := wav.OpenMono16(path)
	if err != nil {
		return nil, 0, fmt.Errorf("testset: %w", err)
	}
	defer f.Close()
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

// Telephone turns 16 kHz speech into what a caller's phone line
// delivers: 8 kHz, band-limited to 300–3400 Hz, through G.711 µ-law.
func Telephone(wide []int16) []int16 {
	d := resample.NewDownsampler()
	s := make([]int16, d.OutLen(len(wide)))
	d.Process(s, wide)
	return Line(s)
}

// Line band-limits 8 kHz audio to 300–3400 Hz and passes it through G.711
// µ-law, in place.
func Line(pcm []int16) []int16 {
	bp, err := resample.NewBandPass(8000, 300, 3400)
	if err != nil {
		panic(err) // constant arguments
	}
	bp.Process(pcm, pcm)
	MuLawRoundTrip(pcm)
	return pcm
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

// HumanDir is where Debian's pocketsphinx-testdata keeps its recordings.
const HumanDir = "/usr/share/pocketsphinx/test/data"

// BuildHuman writes Debian's pocketsphinx-testdata read speech into dir as
// telephone audio, with manifest.jsonl: every 16 kHz recording there whose
// words are known (the librivox and cards clips with their transcripts,
// and three single clips). numbers.raw has no transcript, and the tidigits
// .mfc files are features, not audio.
func BuildHuman(dir string) (string, error) {
	type clip struct{ path, ref string }
	var clips []clip
	for _, set := range []struct{ dir, transcripts string }{{"librivox", "transcription"}, {"cards", "cards.transcription"}} {
		b, err := os.ReadFile(filepath.Join(HumanDir, set.dir, set.transcripts))
		if err != nil {
			return "", fmt.Errorf("testset: pocketsphinx-testdata (apt-get install pocketsphinx-testdata): %w", err)
		}
		// Lines are "<s> words </s> (fileid)".
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			words, id, _ := strings.Cut(line, "(")
			words = strings.TrimSpace(strings.NewReplacer("<s>", "", "</s>", "").Replace(words))
			clips = append(clips, clip{filepath.Join(HumanDir, set.dir, strings.TrimSuffix(strings.TrimSpace(id), ")")+".wav"), words})
		}
	}
	clips = append(clips,
		clip{filepath.Join(HumanDir, "goforward.raw"), "go forward ten meters"},
		clip{filepath.Join(HumanDir, "something.raw"), "go somewhere and do something"},
		// TIDIGITS names a clip by its digits, z for zero.
		clip{filepath.Join(HumanDir, "tidigits", "dhd.2934z.raw"), "two nine three four zero"},
	)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var manifest bytes.Buffer
	for i, c := range clips {
		wide, err := Read16k(c.path)
		if err != nil {
			return "", err
		}
		name := fmt.Sprintf("human-%02d.wav", i)
		if err := writeWAV(filepath.Join(dir, name), Telephone(wide)); err != nil {
			return "", err
		}
		line, _ := json.Marshal(Entry{Audio: name, Text: c.ref})
		manifest.Write(append(line, '\n'))
	}
	path := filepath.Join(dir, "manifest.jsonl")
	return path, os.WriteFile(path, manifest.Bytes(), 0o644)
}

// Read16k reads a 16 kHz mono WAV, or headerless 16 kHz PCM (.raw).
func Read16k(path string) ([]int16, error) {
	if strings.HasSuffix(path, ".wav") {
		pcm, rate, err := readMono(path)
		if err == nil && rate != 16000 {
			err = fmt.Errorf("testset: %s is %d Hz, want 16000", path, rate)
		}
		return pcm, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pcm := make([]int16, len(b)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return pcm, nil
}
