// Package sherpa is vmx's "sherpa" speech-to-text engine: it decodes
// voicemail on the machine that processes it with ONNX models run by
// sherpa-onnx's offline recogniser (github.com/k2-fsa/sherpa-onnx-go-linux).
// Utterances are cut at pauses by vmx's voice-activity detection, upsampled
// from 8 to 16 kHz and decoded whole, as the pocketsphinx engine does.
//
// # Building
//
// The engine needs Linux, cgo and the build tag "sherpa"
// (go build -tags sherpa); the Go module ships onnxruntime and sherpa-onnx
// as shared libraries and links them with an rpath into the module cache,
// so a binary copied to another machine needs those two libraries beside
// it or on LD_LIBRARY_PATH. In any other build New returns an error
// wrapping asr.ErrUnavailable. Config and its validation compile
// everywhere, so a vmx without the engine still checks its configuration.
//
// # Models
//
// vmx ships no model: operators download one from sherpa-onnx's GitHub
// releases (https://github.com/k2-fsa/sherpa-onnx/releases, tag asr-models;
// the catalogue is https://k2-fsa.github.io/sherpa/onnx/pretrained_models/)
// and point the configuration at its files. Three families are supported:
//
//	Whisper, e.g. sherpa-onnx-whisper-tiny.en (multilingual: sherpa-onnx-whisper-small, ...):
//	  model: whisper
//	  encoder: .../tiny.en-encoder.int8.onnx
//	  decoder: .../tiny.en-decoder.int8.onnx
//	  tokens:  .../tiny.en-tokens.txt
//	  language: en       (a multilingual model: any language it lists, e.g. de)
//	  task: transcribe   (or translate, multilingual models only: English text)
//
//	Zipformer and other icefall transducers, e.g. sherpa-onnx-zipformer-en-2023-06-26:
//	  model: transducer
//	  encoder: .../encoder-epoch-99-avg-1.int8.onnx
//	  decoder: .../decoder-epoch-99-avg-1.onnx
//	  joiner:  .../joiner-epoch-99-avg-1.int8.onnx
//	  tokens:  .../tokens.txt
//	  decoding_method: greedy_search (or modified_beam_search)
//
//	Paraformer, e.g. sherpa-onnx-paraformer-en-2024-03-09:
//	  model: paraformer
//	  model_file: .../model.int8.onnx
//	  tokens:     .../tokens.txt
//	  language: en       (the model's language; paraformer-zh models: zh)
//
// English models trained on telephone-band or noisy speech suit voicemail
// best; Whisper decodes at most 30 s at once, so its utterances are cut
// shorter (max_utterance at most 29 s).
//
// # Why the model files are inspected
//
// sherpa-onnx ends the process, instead of returning an error, when
// onnxruntime cannot parse a model or a model lacks the metadata
// sherpa-onnx reads (its exporters write hyper-parameters there). Validate
// therefore reads each model's structure (inputs, outputs, metadata) and
// tokens.txt and reports a file sherpa-onnx would die on. The check is
// structural: a well-formed file whose graph onnxruntime rejects still
// ends the process when New loads it.
package sherpa

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vmx-dev/vmx/internal/asr/utterance"
	"github.com/vmx-dev/vmx/internal/audio/vad"
)

// Name is the engine's name in configuration and in asr.Result.Engine.
const Name = "sherpa"

// Family is a kind of model, with its own set of files.
type Family string

// The model families the engine runs.
const (
	// Whisper is OpenAI Whisper exported by sherpa-onnx: encoder,
	// decoder and tokens.
	Whisper Family = "whisper"
	// Transducer is an icefall transducer (Zipformer, Conformer):
	// encoder, decoder, joiner and tokens.
	Transducer Family = "transducer"
	// Paraformer is FunASR's Paraformer: one model file and tokens.
	Paraformer Family = "paraformer"
)

// Decoding methods.
const (
	GreedySearch       = "greedy_search"
	ModifiedBeamSearch = "modified_beam_search"
)

// whisperMaxUtterance is the longest utterance Whisper decodes whole:
// sherpa-onnx keeps the first 29.5 s of an utterance and drops the rest.
// Its default stays a little below.
const (
	whisperMaxUtterance        = 29 * time.Second
	whisperDefaultMaxUtterance = 28 * time.Second
)

// Config configures the engine. Model, Tokens and the family's model files
// are required; the rest have defaults.
type Config struct {
	// Model is the model family: Whisper, Transducer or Paraformer.
	Model Family
	// Encoder and Decoder are Whisper's and a transducer's ONNX files;
	// Joiner is a transducer's third.
	Encoder, Decoder, Joiner string
	// ModelFile is Paraformer's single ONNX file.
	ModelFile string
	// Tokens is the model's tokens.txt.
	Tokens string
	// Language is the model's language as a BCP 47 tag; Transcribe
	// refuses Options.Language of another primary language rather than
	// produce nonsense. Whisper is told its primary subtag (en, de, ...),
	// which a multilingual model must list. Default "en".
	Language string
	// Task is Whisper's: "transcribe" (default) or "translate" (into
	// English; multilingual models only). Other families have none.
	Task string
	// Provider is onnxruntime's execution provider. The libraries the Go
	// module ships run on the CPU only, so "cpu" is the one value.
	Provider string
	// NumThreads is onnxruntime's threads per recogniser. Default 1:
	// concurrency comes from MaxConcurrent.
	NumThreads int
	// DecodingMethod is GreedySearch (default) or, for transducers only,
	// ModifiedBeamSearch (slower, a little more accurate).
	DecodingMethod string
	// MaxConcurrent bounds the recognisers kept, and so the utterances
	// decoded at once; each holds its own copy of the model (from ≈ 100 MB
	// for Whisper tiny to several GB for large models). Default
	// runtime.GOMAXPROCS(0): decoding is CPU-bound.
	MaxConcurrent int
	// Pause is the silence that ends an utterance. Default 400 ms, at
	// least 100 ms.
	Pause time.Duration
	// MaxUtterance cuts utterances that run longer without a pause.
	// Default 30 s (28 s for Whisper); between 2 s and 5 m, and at most
	// 29 s for Whisper.
	MaxUtterance time.Duration
	// VAD chooses the voice-activity detector that finds the utterances
	// (the energy detector unless Silero is configured); its SampleRate
	// is set per recording.
	VAD vad.Config
}

// WithDefaults returns c with every unset optional field at its default.
func (c Config) WithDefaults() Config {
	if c.Language == "" {
		c.Language = "en"
	}
	if c.Task == "" && c.Model == Whisper {
		c.Task = "transcribe"
	}
	if c.Provider == "" {
		c.Provider = "cpu"
	}
	if c.NumThreads == 0 {
		c.NumThreads = 1
	}
	if c.DecodingMethod == "" {
		c.DecodingMethod = GreedySearch
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = runtime.GOMAXPROCS(0)
	}
	if c.MaxUtterance == 0 && c.Model == Whisper {
		c.MaxUtterance = whisperDefaultMaxUtterance
	}
	u := c.utterances().WithDefaults()
	c.Pause, c.MaxUtterance = u.Pause, u.MaxUtterance
	return c
}

// modelFile is one file setting of Config.
type modelFile struct {
	key  string // configuration key
	path string
	onnx bool
}

func (c Config) files() []modelFile {
	return []modelFile{
		{"encoder", c.Encoder, true},
		{"decoder", c.Decoder, true},
		{"joiner", c.Joiner, true},
		{"model_file", c.ModelFile, true},
		{"tokens", c.Tokens, false},
	}
}

// needs lists the file keys each family requires, in the order of files.
var needs = map[Family][]string{
	Whisper:    {"encoder", "decoder", "tokens"},
	Transducer: {"encoder", "decoder", "joiner", "tokens"},
	Paraformer: {"model_file", "tokens"},
}

var languageTag = regexp.MustCompile(`^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$`)

// Validate checks a defaulted Config and returns every problem it finds:
// settings, then the model files, whose contents are inspected as far as
// sherpa-onnx relies on them (see the package documentation).
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	need, known := needs[c.Model]
	switch {
	case c.Model == "":
		bad("model: must be set: %s, %s or %s", Whisper, Transducer, Paraformer)
	case !known:
		bad("model: %q is not one of %s, %s, %s", c.Model, Whisper, Transducer, Paraformer)
	}
	var missing []string
	usable := map[string]bool{} // files that exist and are regular
	for _, f := range c.files() {
		used := !known || slices.Contains(need, f.key)
		switch {
		case f.path == "" && used && known:
			missing = append(missing, f.key)
		case f.path == "":
		case !used:
			bad("%s: %s does not use %s; remove it (%s needs %s)", f.key, c.Model, f.key, c.Model, list(need))
		default:
			fi, err := os.Stat(f.path)
			switch {
			case err != nil:
				bad("%s: %w", f.key, err)
			case fi.IsDir():
				bad("%s: %s is a directory, not a file", f.key, f.path)
			default:
				usable[f.key] = true
			}
		}
	}
	if len(missing) > 0 {
		bad("%s needs %s (missing: %s)", c.Model, list(need), strings.Join(missing, ", "))
	}

	if !languageTag.MatchString(c.Language) {
		bad("language: %q is not a language tag such as en or en-US", c.Language)
	}
	switch {
	case c.Model == Whisper && c.Task != "transcribe" && c.Task != "translate":
		bad("task: %q must be transcribe or translate", c.Task)
	case known && c.Model != Whisper && c.Task != "":
		bad("task: only whisper has a task; %s has none", c.Model)
	}
	if c.Provider != "cpu" {
		bad("provider: %q: the onnxruntime shipped with sherpa-onnx runs on cpu only", c.Provider)
	}
	if c.NumThreads < 1 || c.NumThreads > 64 {
		bad("num_threads: %d must be between 1 and 64", c.NumThreads)
	}
	switch c.DecodingMethod {
	case GreedySearch:
	case ModifiedBeamSearch:
		if known && c.Model != Transducer {
			bad("decoding_method: %s works with transducer models only; %s decodes with %s", ModifiedBeamSearch, c.Model, GreedySearch)
		}
	default:
		bad("decoding_method: %q must be %s or %s", c.DecodingMethod, GreedySearch, ModifiedBeamSearch)
	}
	if c.MaxConcurrent < 1 {
		bad("max_concurrent: %d must be at least 1", c.MaxConcurrent)
	}
	errs = append(errs, c.utterances().Validate()...)
	// Longer than the shared bound is reported once, by Validate.
	if c.Model == Whisper && c.MaxUtterance > whisperMaxUtterance && c.MaxUtterance <= utterance.LongestMaxUtterance {
		bad("max_utterance: %s is too long for whisper, which decodes at most 30 s at once; use at most %s", c.MaxUtterance, whisperMaxUtterance)
	}

	if known {
		errs = append(errs, c.inspect(usable)...)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sherpa: %w", err)
	}
	return nil
}

// list joins words as "a, b and c".
func list(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// utterances is how recordings are cut into utterances.
func (c Config) utterances() utterance.Options {
	return utterance.Options{Pause: c.Pause, MaxUtterance: c.MaxUtterance, VAD: c.VAD}
}

// inspection gathers the problems inspect finds.
type inspection struct {
	errs []error
}

func (in *inspection) bad(key, path, format string, a ...any) {
	in.errs = append(in.errs, fmt.Errorf("%s: %s: %s", key, path, fmt.Sprintf(format, a...)))
}

// shape checks the inputs and outputs sherpa-onnx feeds and reads by
// position; a file of another family or role fails here.
func (in *inspection) shape(key, path string, m *onnxInfo, role string, inputs, minOutputs int) bool {
	if len(m.Inputs) == inputs && len(m.Outputs) >= minOutputs {
		return true
	}
	in.bad(key, path, "has inputs %q and outputs %q, but a %s has %d inputs and at least %d outputs", m.Inputs, m.Outputs, role, inputs, minOutputs)
	return false
}

// ints checks metadata that sherpa-onnx reads as non-negative integers,
// and returns them.
func (in *inspection) ints(key, path string, m *onnxInfo, role string, names ...string) (map[string]int, bool) {
	vals := map[string]int{}
	var absent, invalid []string
	for _, n := range names {
		s := m.Meta[n]
		v, err := strconv.Atoi(strings.TrimSpace(s))
		switch {
		case s == "": // sherpa-onnx takes an empty value for a missing one
			absent = append(absent, n)
		case err != nil || v < 0:
			invalid = append(invalid, fmt.Sprintf("%s=%q", n, s))
		default:
			vals[n] = v
		}
	}
	if len(absent) > 0 {
		in.bad(key, path, "metadata lacks %s: not a %s exported for sherpa-onnx", strings.Join(absent, ", "), role)
	}
	if len(invalid) > 0 {
		in.bad(key, path, "metadata %s: want non-negative integers", strings.Join(invalid, ", "))
	}
	return vals, len(absent)+len(invalid) == 0
}

// inspect checks the contents of the usable model files against what
// sherpa-onnx reads from them for c.Model.
func (c Config) inspect(usable map[string]bool) []error {
	in := &inspection{}
	models := map[string]*onnxInfo{}
	for _, f := range c.files() {
		if !f.onnx || !usable[f.key] {
			continue
		}
		info, err := readONNX(f.path)
		if err != nil {
			in.bad(f.key, f.path, "not an ONNX model: %v", err)
			continue
		}
		models[f.key] = info
	}
	var tok *tokenTable
	if usable["tokens"] {
		var err error
		if tok, err = readTokens(c.Tokens); err != nil {
			in.errs = append(in.errs, fmt.Errorf("tokens: %w", err))
		}
	}
	// covers checks that tokens.txt names every id the model can emit:
	// sherpa-onnx looks them up unchecked and dies on a miss.
	covers := func(vocab int) {
		if tok != nil && !tok.covers(vocab) {
			in.bad("tokens", c.Tokens, "does not name every id from 0 to %d of the model's vocabulary (it has %d tokens, ids up to %d): is it the model's own tokens.txt?", vocab-1, len(tok.ids), tok.maxID)
		}
	}

	switch c.Model {
	case Whisper:
		if m := models["encoder"]; m != nil && in.shape("encoder", c.Encoder, m, "whisper encoder", 1, 2) {
			c.inspectWhisper(in, m)
		}
		if m := models["decoder"]; m != nil {
			in.shape("decoder", c.Decoder, m, "whisper decoder", 6, 3)
		}
	case Transducer:
		if m := models["encoder"]; m != nil && in.shape("encoder", c.Encoder, m, "transducer encoder", 2, 2) {
			// The engine tells sherpa-onnx the family, so the type
			// is checked only when the exporter recorded one.
			if t, ok := m.Meta["model_type"]; ok && !slices.Contains([]string{"zipformer", "zipformer2", "conformer"}, t) {
				in.bad("encoder", c.Encoder, "model_type %q is not an icefall transducer (zipformer, zipformer2 or conformer)", t)
			}
		}
		if m := models["decoder"]; m != nil && in.shape("decoder", c.Decoder, m, "transducer decoder", 1, 1) {
			if v, ok := in.ints("decoder", c.Decoder, m, "transducer decoder", "vocab_size", "context_size"); ok {
				if v["context_size"] < 1 || v["vocab_size"] < 1 {
					in.bad("decoder", c.Decoder, "metadata vocab_size %d and context_size %d must be positive", v["vocab_size"], v["context_size"])
				} else {
					covers(v["vocab_size"])
				}
			}
		}
		if m := models["joiner"]; m != nil {
			in.shape("joiner", c.Joiner, m, "transducer joiner", 2, 1)
		}
	case Paraformer:
		m := models["model_file"]
		if m == nil || !in.shape("model_file", c.ModelFile, m, "paraformer model", 2, 2) {
			break
		}
		v, ok := in.ints("model_file", c.ModelFile, m, "paraformer model", "vocab_size", "lfr_window_size", "lfr_window_shift")
		if !ok {
			break
		}
		if v["vocab_size"] < 1 || v["lfr_window_size"] < 1 || v["lfr_window_shift"] < 1 {
			in.bad("model_file", c.ModelFile, "metadata vocab_size, lfr_window_size and lfr_window_shift must be positive")
			break
		}
		// The normalisation vectors span the stacked (low frame
		// rate) features: 80 filterbank channels per stacked frame.
		dim := 80 * v["lfr_window_size"]
		for _, k := range []string{"neg_mean", "inv_stddev"} {
			if n, err := floats(m.Meta[k]); err != nil || n != dim {
				in.bad("model_file", c.ModelFile, "metadata %s must be %d comma-separated numbers (80 × lfr_window_size)", k, dim)
			}
		}
		covers(v["vocab_size"])
		if tok != nil && !tok.syms["</s>"] {
			in.bad("tokens", c.Tokens, "has no </s>, the token paraformer decoding stops at")
		}
	}
	return in.errs
}

// inspectWhisper checks a Whisper encoder's metadata, and the language and
// task against it.
func (c Config) inspectWhisper(in *inspection, m *onnxInfo) {
	bad := func(format string, a ...any) { in.bad("encoder", c.Encoder, format, a...) }
	v, ok := in.ints("encoder", c.Encoder, m, "whisper encoder",
		"n_mels", "n_text_layer", "n_text_ctx", "n_text_state", "n_vocab", "sot", "eot", "blank_id",
		"translate", "transcribe", "is_multilingual", "no_timestamps", "no_speech")
	if !ok {
		return
	}
	sot, err := intList(m.Meta["sot_sequence"])
	if err != nil {
		bad("metadata sot_sequence: %v", err)
		return
	}
	lang := utterance.Primary(c.Language)
	// A malformed language is reported once, by Validate.
	checkLang := languageTag.MatchString(c.Language)
	if v["is_multilingual"] == 0 {
		if checkLang && lang != "en" {
			bad("the model is English-only; language %q needs a multilingual whisper model", c.Language)
		}
		if c.Task == "translate" {
			bad("the model is English-only; task translate needs a multilingual whisper model")
		}
		return
	}
	// sherpa-onnx writes the language and task tokens over
	// sot_sequence[1] and [2].
	if len(sot) < 3 {
		bad("metadata sot_sequence %q: a multilingual model's has at least 3 tokens", m.Meta["sot_sequence"])
	}
	tokens, err := intList(m.Meta["all_language_tokens"])
	if err != nil {
		bad("metadata all_language_tokens: %v", err)
		return
	}
	codes := strings.Split(m.Meta["all_language_codes"], ",")
	if len(codes) != len(tokens) {
		bad("metadata lists %d language codes for %d language tokens", len(codes), len(tokens))
		return
	}
	if checkLang && !slices.Contains(codes, lang) {
		bad("language %q is not one the model knows (%s)", lang, strings.Join(codes, ","))
	}
}

// intList parses a comma-separated list of integers, as sherpa-onnx
// reads list metadata.
func intList(s string) ([]int, error) {
	if s == "" {
		return nil, errors.New("missing")
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q is not a list of integers", s)
		}
		out = append(out, v)
	}
	return out, nil
}

// floats counts the numbers of a comma-separated list of them.
func floats(s string) (int, error) {
	if s == "" {
		return 0, errors.New("missing")
	}
	n := 0
	for _, f := range strings.Split(s, ",") {
		if _, err := strconv.ParseFloat(strings.TrimSpace(f), 32); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// tokenTable is what Validate needs of a tokens.txt.
type tokenTable struct {
	ids   map[int]bool
	syms  map[string]bool
	maxID int
}

// covers reports whether the table names every id below vocab.
func (t *tokenTable) covers(vocab int) bool {
	for id := range vocab {
		if !t.ids[id] {
			return false
		}
	}
	return true
}

// readTokens reads a sherpa-onnx tokens.txt: one "<symbol> <id>" per line.
func readTokens(path string) (*tokenTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := parseTokens(bufio.NewScanner(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// parseTokens parses the lines of a tokens.txt. sherpa-onnx reads the file
// as whitespace-separated symbol and id pairs and stops silently at the
// first that does not parse, leaving ids unnamed; here any such line is an
// error.
func parseTokens(sc *bufio.Scanner) (*tokenTable, error) {
	t := &tokenTable{ids: map[int]bool{}, syms: map[string]bool{}, maxID: -1}
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		f := strings.Fields(text)
		if len(f) == 0 {
			continue
		}
		id, err := strconv.ParseInt(f[len(f)-1], 10, 32)
		if len(f) != 2 || err != nil || id < 0 {
			return nil, fmt.Errorf("line %d: %q is not \"<symbol> <id>\"", line, truncate(text, 40))
		}
		if t.ids[int(id)] {
			return nil, fmt.Errorf("line %d: id %d named twice", line, id)
		}
		t.ids[int(id)] = true
		t.syms[f[0]] = true
		t.maxID = max(t.maxID, int(id))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(t.ids) == 0 {
		return nil, errors.New("no tokens")
	}
	return t, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
