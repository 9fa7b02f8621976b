package cli

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/asr/testset"
	"github.com/vmx-dev/vmx/internal/asr/wer"
	"github.com/vmx-dev/vmx/internal/audio/resample"
	"github.com/vmx-dev/vmx/internal/wav"
)

func transcribeCommand() Command {
	return Command{
		Name:  "transcribe",
		Usage: "[--config FILE] [flags] FILE.wav",
		Short: "transcribe a WAV with the configured speech-to-text engine",
		Run:   runTranscribe,
	}
}

func runTranscribe(ctx context.Context, env *Env, args []string) (int, error) {
	fs := newFlagSet(env, "transcribe", "[--config FILE] [flags] FILE.wav")
	var language string
	var jsonOut bool
	fs.StringVar(&language, "language", "en-US", "language of the speech")
	fs.BoolVar(&jsonOut, "json", false, "print the Transcribe-shaped JSON document instead of the text")
	cfg, pos, err := loadConfig(env, fs, args, false)
	if err != nil {
		return 2, err
	}
	if len(pos) != 1 {
		return 2, usagef("want one FILE.wav")
	}
	engine, closeEngine, err := newEngine(cfg, env.Logger)
	if err != nil {
		return 1, err
	}
	defer closeEngine()
	res, _, err := transcribeFile(ctx, engine, pos[0], language)
	if err != nil {
		return 1, err
	}
	if jsonOut {
		doc, err := res.TranscribeJSON(strings.TrimSuffix(filepath.Base(pos[0]), filepath.Ext(pos[0])))
		if err != nil {
			return 1, err
		}
		fmt.Fprintf(env.Stdout, "%s\n", doc)
		return 0, nil
	}
	if res.Empty {
		fmt.Fprintln(env.Stderr, "no speech in the recording")
	}
	fmt.Fprintln(env.Stdout, res.Text)
	return 0, nil
}

// transcribeFile runs engine on a WAV file and says how much CPU time it
// took.
func transcribeFile(ctx context.Context, engine asr.Engine, path, language string) (*asr.Result, time.Duration, error) {
	r, f, err := wav.OpenMono16(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	start := cpuTime()
	res, err := engine.Transcribe(ctx, asr.Audio{PCM: r, SampleRate: r.Format().SampleRate}, asr.Options{Language: language})
	return res, cpuTime() - start, err
}

// cpuTime is the CPU time this process has used: real-time factors are per
// core, whatever else the machine is doing.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchASR scores an engine on a manifest of (audio, reference text):
// corpus word error rate and real-time factor (processing time over audio
// time), and the same for Debian's pocketsphinx_batch with its default
// model when --baseline is given.
func benchASR(ctx context.Context, env *Env, args []string) (int, error) {
	fs := newFlagSet(env, "bench asr", "--manifest FILE | --make-testset DIR | --human DIR [--baseline]")
	var manifest, makeDir, humanDir string
	var baseline, verbose bool
	fs.StringVar(&manifest, "manifest", "", "JSON lines of {\"audio\": WAV, \"text\": reference}")
	fs.StringVar(&makeDir, "make-testset", "", "build vmx's telephone test set (flite voices, 8 kHz µ-law, some noisy) into DIR and score it")
	fs.StringVar(&humanDir, "human", "", "make Debian's pocketsphinx-testdata read speech into telephone audio in DIR and score it")
	fs.BoolVar(&baseline, "baseline", false, "also score a plain pocketsphinx_batch run with the default model")
	fs.BoolVar(&verbose, "v", false, "print every file's hypothesis")
	cfg, pos, err := loadConfig(env, fs, args, false)
	if err != nil {
		return 2, err
	}
	chosen := 0
	for _, v := range []string{manifest, makeDir, humanDir} {
		if v != "" {
			chosen++
		}
	}
	if len(pos) > 0 || chosen != 1 {
		return 2, usagef("want one of --manifest FILE, --make-testset DIR or --human DIR")
	}
	switch {
	case makeDir != "":
		manifest, err = testset.Build(ctx, makeDir)
	case humanDir != "":
		manifest, err = testset.BuildHuman(humanDir)
	}
	if err != nil {
		return 1, err
	}
	entries, err := testset.ReadManifest(manifest)
	if err != nil {
		return 1, err
	}
	engine, closeEngine, err := newEngine(cfg, env.Logger)
	if err != nil {
		return 1, err
	}
	defer closeEngine()
	var total wer.Counts
	var audio, spent time.Duration
	for _, e := range entries {
		res, took, err := transcribeFile(ctx, engine, e.Audio, "en-US")
		if err != nil {
			return 1, err
		}
		c := wer.Compare(e.Text, res.Text)
		total = total.Add(c)
		audio += time.Duration(res.AudioMS) * time.Millisecond
		spent += took
		if verbose {
			fmt.Fprintf(env.Stdout, "%-40s WER %5.1f%%  %q\n", filepath.Base(e.Audio), 100*c.Rate(), res.Text)
		}
	}
	fmt.Fprintf(env.Stdout, "| engine | files | words | WER | real-time factor (CPU) |\n|---|---|---|---|---|\n")
	fmt.Fprintf(env.Stdout, "| vmx %s | %d | %d | %.1f %% | %.3f |\n", engine.Name(), len(entries), total.RefWords, 100*total.Rate(), spent.Seconds()/audio.Seconds())
	if baseline {
		b, rtf, err := pocketsphinxBatch(ctx, entries)
		if err != nil {
			return 1, err
		}
		fmt.Fprintf(env.Stdout, "| pocketsphinx_batch, default model | %d | %d | %.1f %% | %.3f |\n", len(entries), b.RefWords, 100*b.Rate(), rtf)
	}
	return 0, nil
}

// pocketsphinxBatch runs Debian's pocketsphinx_batch over the entries with
// its default model and settings and scores its hypotheses. The model
// refuses 8 kHz audio (its filter bank reaches 6.8 kHz), so the audio is
// upsampled to 16 kHz with vmx's resampler: the comparison is of decoding,
// not of resampling.
func pocketsphinxBatch(ctx context.Context, entries []testset.Entry) (wer.Counts, float64, error) {
	dir, err := os.MkdirTemp("", "vmx-psbatch-")
	if err != nil {
		return wer.Counts{}, 0, err
	}
	defer os.RemoveAll(dir)
	var ctl strings.Builder
	var audio time.Duration
	for i, e := range entries {
		// pocketsphinx_batch reads raw headerless PCM.
		in, err := os.Open(e.Audio)
		if err != nil {
			return wer.Counts{}, 0, err
		}
		r, err := wav.NewReader(in)
		if err != nil {
			in.Close()
			return wer.Counts{}, 0, err
		}
		pcm, err := io.ReadAll(r)
		in.Close()
		if err != nil {
			return wer.Counts{}, 0, err
		}
		audio += time.Duration(len(pcm)/16) * time.Millisecond
		pcm = upsample(pcm)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("u%04d.raw", i)), pcm, 0o644); err != nil {
			return wer.Counts{}, 0, err
		}
		fmt.Fprintf(&ctl, "u%04d\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "ctl"), []byte(ctl.String()), 0o644); err != nil {
		return wer.Counts{}, 0, err
	}
	hyp := filepath.Join(dir, "hyp")
	const model = "/usr/share/pocketsphinx/model/en-us"
	args := []string{"-adcin", "yes", "-cepdir", dir, "-cepext", ".raw", "-ctl", filepath.Join(dir, "ctl"), "-hyp", hyp,
		"-hmm", model + "/en-us", "-lm", model + "/en-us.lm.bin", "-dict", model + "/cmudict-en-us.dict"}
	cmd := exec.CommandContext(ctx, "pocketsphinx_batch", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return wer.Counts{}, 0, fmt.Errorf("pocketsphinx_batch (apt-get install pocketsphinx): %w: %s", err, lastLine(string(out)))
	}
	var spent time.Duration
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		spent = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	f, err := os.Open(hyp)
	if err != nil {
		return wer.Counts{}, 0, err
	}
	defer f.Close()
	got := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "text words (u0001 -12345)"
		line := sc.Text()
		if i := strings.LastIndex(line, " ("); i >= 0 {
			id := strings.Fields(line[i+2:])
			if len(id) > 0 {
				got[id[0]] = line[:i]
			}
		}
	}
	var total wer.Counts
	for i, e := range entries {
		total = total.Add(wer.Compare(e.Text, got[fmt.Sprintf("u%04d", i)]))
	}
	return total, spent.Seconds() / audio.Seconds(), nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// upsample doubles the rate of s16le PCM with vmx's anti-aliased
// resampler.
func upsample(pcm []byte) []byte {
	in := make([]int16, len(pcm)/2)
	for i := range in {
		in[i] = int16(binary.LittleEndian.Uint16(pcm[2*i:]))
	}
	out := make([]int16, 2*len(in))
	resample.NewUpsampler().Process(out, in)
	b := make([]byte, 2*len(out))
	for i, v := range out {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}
