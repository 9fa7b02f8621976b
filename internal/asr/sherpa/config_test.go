package sherpa

import (
	"bufio"
	"runtime"
	"strings"
	"testing"
	"time"
)

// wantErrors checks that err mentions each of want, on its own line for
// each problem.
func wantErrors(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "sherpa: ") {
		t.Errorf("error %q lacks the package prefix", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error does not mention %q:\n%s", w, msg)
		}
	}
}

func TestWithDefaults(t *testing.T) {
	c := Config{Model: Whisper}.WithDefaults()
	want := Config{Model: Whisper, Language: "en", Task: "transcribe", Provider: "cpu", NumThreads: 1,
		DecodingMethod: GreedySearch, MaxConcurrent: runtime.GOMAXPROCS(0), Pause: 400 * time.Millisecond,
		MaxUtterance: 28 * time.Second}
	if c != want {
		t.Errorf("whisper defaults\n%+v, want\n%+v", c, want)
	}
	// Other families have no task and decode longer utterances.
	if c := (Config{Model: Transducer}).WithDefaults(); c.Task != "" || c.MaxUtterance != 30*time.Second {
		t.Errorf("transducer defaults %+v", c)
	}
	// Set fields are kept.
	set := Config{Model: Paraformer, Language: "zh", NumThreads: 4, MaxConcurrent: 3, Pause: time.Second, MaxUtterance: 10 * time.Second}
	if c := set.WithDefaults(); c.Language != "zh" || c.NumThreads != 4 || c.MaxConcurrent != 3 || c.Pause != time.Second || c.MaxUtterance != 10*time.Second {
		t.Errorf("set fields changed: %+v", c)
	}
}

func TestValidateEveryFamily(t *testing.T) {
	for _, f := range []Family{Whisper, Transducer, Paraformer} {
		if err := fixtures(t, f).Validate(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	// Modified beam search is a transducer's option.
	c := fixtures(t, Transducer)
	c.DecodingMethod = ModifiedBeamSearch
	if err := c.Validate(); err != nil {
		t.Errorf("transducer with beam search: %v", err)
	}
	// A multilingual Whisper accepts any language it lists, and translates.
	c = fixtures(t, Whisper)
	write(t, dirOf(c.Encoder), "encoder.onnx", whisperEncoder(true).bytes())
	c.Language, c.Task = "de-DE", "translate"
	if err := c.Validate(); err != nil {
		t.Errorf("multilingual whisper in German: %v", err)
	}
}

func dirOf(path string) string { return path[:strings.LastIndex(path, "/")] }

func TestValidateModel(t *testing.T) {
	wantErrors(t, Config{}.WithDefaults().Validate(), "model: must be set: whisper, transducer or paraformer")
	// An unknown family is reported with the other problems, and the
	// paths given are still checked.
	err := Config{Model: "wav2vec", Encoder: "/nonexistent/encoder.onnx", NumThreads: -1}.WithDefaults().Validate()
	wantErrors(t, err, `model: "wav2vec" is not one of whisper, transducer, paraformer`,
		"encoder: stat /nonexistent/encoder.onnx: no such file", "num_threads: -1")
}

func TestValidateMissingFiles(t *testing.T) {
	for f, want := range map[Family]string{
		Whisper:    "whisper needs encoder, decoder and tokens (missing: encoder, decoder, tokens)",
		Transducer: "transducer needs encoder, decoder, joiner and tokens (missing: encoder, decoder, joiner, tokens)",
		Paraformer: "paraformer needs model_file and tokens (missing: model_file, tokens)",
	} {
		wantErrors(t, Config{Model: f}.WithDefaults().Validate(), want)
	}
	// One missing file is named alone, and the files given are still
	// inspected.
	c := fixtures(t, Transducer)
	c.Joiner = ""
	write(t, dirOf(c.Encoder), "encoder.onnx", []byte("garbage"))
	wantErrors(t, c.Validate(), "(missing: joiner)", "encoder: "+c.Encoder+": not an ONNX model")
}

func TestValidateUnusedFiles(t *testing.T) {
	c := fixtures(t, Whisper)
	c.Joiner, c.ModelFile = c.Encoder, c.Encoder
	wantErrors(t, c.Validate(),
		"joiner: whisper does not use joiner; remove it (whisper needs encoder, decoder and tokens)",
		"model_file: whisper does not use model_file")
	p := fixtures(t, Paraformer)
	p.Encoder, p.Decoder, p.Joiner = p.ModelFile, p.ModelFile, p.ModelFile
	wantErrors(t, p.Validate(), "encoder: paraformer does not use encoder", "decoder: paraformer does not use decoder",
		"joiner: paraformer does not use joiner")
	tr := fixtures(t, Transducer)
	tr.ModelFile = tr.Encoder
	wantErrors(t, tr.Validate(), "model_file: transducer does not use model_file")
}

func TestValidatePaths(t *testing.T) {
	c := fixtures(t, Whisper)
	c.Encoder = "/nonexistent/encoder.onnx"
	c.Decoder = t.TempDir()
	wantErrors(t, c.Validate(), "encoder: stat /nonexistent/encoder.onnx: no such file or directory",
		"decoder: "+c.Decoder+" is a directory, not a file")
}

func TestValidateSettings(t *testing.T) {
	c := fixtures(t, Whisper)
	c.Language, c.Task, c.Provider = "english!", "summarise", "cuda"
	c.NumThreads, c.DecodingMethod, c.MaxConcurrent = 0, ModifiedBeamSearch, -2
	c.Pause, c.MaxUtterance = 50*time.Millisecond, 30*time.Second
	wantErrors(t, c.Validate(),
		`language: "english!" is not a language tag`,
		`task: "summarise" must be transcribe or translate`,
		`provider: "cuda": the onnxruntime shipped with sherpa-onnx runs on cpu only`,
		"num_threads: 0 must be between 1 and 64",
		"decoding_method: modified_beam_search works with transducer models only; whisper decodes with greedy_search",
		"max_concurrent: -2 must be at least 1",
		"pause: 50ms must be at least 100ms",
		"max_utterance: 30s is too long for whisper")
	// Every problem is on a line of its own.
	if n := strings.Count(c.Validate().Error(), "\n") + 1; n != 8 {
		t.Errorf("%d lines for 8 problems:\n%v", n, c.Validate())
	}

	p := fixtures(t, Paraformer)
	p.Task, p.DecodingMethod, p.MaxUtterance, p.NumThreads = "transcribe", "beam", time.Second, 65
	wantErrors(t, p.Validate(), "task: only whisper has a task; paraformer has none",
		`decoding_method: "beam" must be greedy_search or modified_beam_search`,
		"max_utterance: 1s must be between 2s and 5m", "num_threads: 65")

	// Beyond every model's bound, Whisper's own is not reported too.
	w := fixtures(t, Whisper)
	w.MaxUtterance = 6 * time.Minute
	err := w.Validate()
	wantErrors(t, err, "max_utterance: 6m0s must be between 2s and 5m")
	if strings.Contains(err.Error(), "too long for whisper") {
		t.Errorf("max_utterance reported twice:\n%v", err)
	}
}

func TestValidateModelContents(t *testing.T) {
	for _, tc := range []struct {
		name   string
		family Family
		edit   func(t *testing.T, c *Config)
		want   []string
	}{
		{"garbage", Whisper, func(t *testing.T, c *Config) {
			write(t, dirOf(c.Encoder), "encoder.onnx", []byte("garbage bytes\xff\xff"))
			write(t, dirOf(c.Encoder), "decoder.onnx", nil)
		}, []string{"encoder: " + "ENC" + ": not an ONNX model", "decoder: " + "DEC" + ": not an ONNX model: no graph"}},
		{"swapped encoder and decoder", Whisper, func(t *testing.T, c *Config) {
			c.Encoder, c.Decoder = c.Decoder, c.Encoder
		}, []string{`has inputs ["tokens" "in_n_layer_self_k_cache"`, "a whisper encoder has 1 inputs",
			`has inputs ["mel"] and outputs ["n_layer_cross_k" "n_layer_cross_v"], but a whisper decoder has 6 inputs`}},
		{"whisper without metadata", Whisper, func(t *testing.T, c *Config) {
			m := whisperEncoder(false)
			delete(m.meta, "n_mels")
			delete(m.meta, "no_speech")
			m.meta["sot"] = "-1"
			write(t, dirOf(c.Encoder), "encoder.onnx", m.bytes())
		}, []string{"metadata lacks n_mels, no_speech: not a whisper encoder exported for sherpa-onnx",
			`metadata sot="-1": want non-negative integers`}},
		{"English-only whisper asked for German", Whisper, func(t *testing.T, c *Config) {
			c.Language, c.Task = "de", "translate"
		}, []string{`the model is English-only; language "de" needs a multilingual whisper model`,
			"task translate needs a multilingual whisper model"}},
		{"multilingual whisper without the language", Whisper, func(t *testing.T, c *Config) {
			write(t, dirOf(c.Encoder), "encoder.onnx", whisperEncoder(true).bytes())
			c.Language = "cy-GB"
		}, []string{`language "cy" is not one the model knows (en,zh,de)`}},
		{"multilingual whisper with broken language lists", Whisper, func(t *testing.T, c *Config) {
			m := whisperEncoder(true)
			m.meta["sot_sequence"] = "50258"
			m.meta["all_language_codes"] = "en,zh"
			write(t, dirOf(c.Encoder), "encoder.onnx", m.bytes())
		}, []string{`metadata sot_sequence "50258": a multilingual model's has at least 3 tokens`,
			"metadata lists 2 language codes for 3 language tokens"}},
		{"whisper tokens not a token list", Whisper, func(t *testing.T, c *Config) {
			write(t, dirOf(c.Tokens), "tokens.txt", []byte("IQ== 0\ngarbage\x00\xff\n"))
		}, []string{`tokens: TOK: line 2: "garbage\x00\xff" is not "<symbol> <id>"`}},
		{"NeMo transducer", Transducer, func(t *testing.T, c *Config) {
			m := transducerEncoder
			m.meta = map[string]string{"model_type": "EncDecRNNTBPEModel"}
			write(t, dirOf(c.Encoder), "encoder.onnx", m.bytes())
		}, []string{`model_type "EncDecRNNTBPEModel" is not an icefall transducer`}},
		{"transducer files in the wrong roles", Transducer, func(t *testing.T, c *Config) {
			c.Decoder, c.Joiner = c.Joiner, c.Decoder
		}, []string{"but a transducer decoder has 1 inputs", "but a transducer joiner has 2 inputs"}},
		{"transducer decoder without vocabulary", Transducer, func(t *testing.T, c *Config) {
			m := transducerDecoder
			m.meta = map[string]string{"vocab_size": "500"}
			write(t, dirOf(c.Decoder), "decoder.onnx", m.bytes())
		}, []string{"metadata lacks context_size: not a transducer decoder exported for sherpa-onnx"}},
		{"transducer with another model's tokens", Transducer, func(t *testing.T, c *Config) {
			write(t, dirOf(c.Tokens), "tokens.txt", tokensFile(80))
		}, []string{"tokens: TOK: does not name every id from 0 to 499 of the model's vocabulary (it has 80 tokens, ids up to 79)"}},
		{"paraformer without normalisation", Paraformer, func(t *testing.T, c *Config) {
			m := paraformerModel()
			m.meta["neg_mean"] = "0,0,0"
			delete(m.meta, "inv_stddev")
			write(t, dirOf(c.ModelFile), "model.onnx", m.bytes())
		}, []string{"metadata neg_mean must be 560 comma-separated numbers", "metadata inv_stddev must be 560"}},
		{"paraformer without lfr", Paraformer, func(t *testing.T, c *Config) {
			m := paraformerModel()
			m.meta["lfr_window_size"] = "0"
			write(t, dirOf(c.ModelFile), "model.onnx", m.bytes())
		}, []string{"metadata vocab_size, lfr_window_size and lfr_window_shift must be positive"}},
		{"paraformer tokens without </s>", Paraformer, func(t *testing.T, c *Config) {
			write(t, dirOf(c.Tokens), "tokens.txt", tokensFile(5))
		}, []string{"tokens: TOK: has no </s>"}},
		{"paraformer given a transducer encoder", Paraformer, func(t *testing.T, c *Config) {
			write(t, dirOf(c.ModelFile), "model.onnx", transducerJoiner.bytes())
		}, []string{`has inputs ["encoder_out" "decoder_out"] and outputs ["logit"], but a paraformer model has 2 inputs and at least 2 outputs`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fixtures(t, tc.family)
			tc.edit(t, &c)
			r := strings.NewReplacer("ENC", c.Encoder, "DEC", c.Decoder, "TOK", c.Tokens)
			want := make([]string, len(tc.want))
			for i, w := range tc.want {
				want[i] = r.Replace(w)
			}
			wantErrors(t, c.Validate(), want...)
		})
	}
}

func TestParseTokens(t *testing.T) {
	parse := func(s string) (*tokenTable, error) { return parseTokens(bufio.NewScanner(strings.NewReader(s))) }
	tok, err := parse("<blk> 0\n\n▁THE 1\r\nS\t2\n")
	if err != nil || len(tok.ids) != 3 || !tok.syms["▁THE"] || tok.maxID != 2 || !tok.covers(3) || tok.covers(4) {
		t.Errorf("tokens %+v, %v", tok, err)
	}
	for in, want := range map[string]string{
		"":                "no tokens",
		"a 0\nb 0\n":      "line 2: id 0 named twice",
		"a b 0\n":         `line 1: "a b 0" is not`,
		"a -1\n":          "line 1",
		"a 99999999999\n": "line 1",
		"3\n":             "line 1",
	} {
		if _, err := parse(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parse(%q) = %v, want %q", in, err, want)
		}
	}
}

func FuzzParseTokens(f *testing.F) {
	f.Add("<blk> 0\n▁THE 1\n")
	f.Add("IQ== 0\nIg== 1\n")
	f.Add("a 0\na 0\n")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := parseTokens(bufio.NewScanner(strings.NewReader(s)))
		if err == nil && (len(tok.ids) == 0 || tok.maxID < 0 || !tok.ids[tok.maxID]) {
			t.Errorf("accepted %q as %+v", s, tok)
		}
	})
}
