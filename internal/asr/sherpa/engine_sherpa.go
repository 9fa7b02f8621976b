//go:build sherpa && cgo && linux

package sherpa

import (
	"fmt"
	"strings"

	so "github.com/k2-fsa/sherpa-onnx-go-linux"

	"github.com/vmx-dev/vmx/internal/asr/utterance"
)

// New returns a sherpa-onnx engine for cfg (defaults applied). It validates
// cfg, inspecting the model files (see the package documentation), and
// loads one recogniser, so a broken configuration fails here; Close frees
// the recognisers.
func New(cfg Config) (*Engine, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rc := recognizerConfig(cfg)
	return newEngine(cfg, func() (recognizer, error) {
		r := so.NewOfflineRecognizer(rc)
		if r == nil {
			return nil, fmt.Errorf("sherpa: sherpa-onnx could not load the %s model (%s); its reason is on standard error", cfg.Model, cfg.fileList())
		}
		return &sherpaRecognizer{r: r}, nil
	})
}

// recognizerConfig translates cfg into sherpa-onnx's configuration.
func recognizerConfig(cfg Config) *so.OfflineRecognizerConfig {
	c := &so.OfflineRecognizerConfig{DecodingMethod: cfg.DecodingMethod, MaxActivePaths: 4}
	c.FeatConfig.SampleRate = 16000
	c.FeatConfig.FeatureDim = 80
	m := &c.ModelConfig
	m.Tokens = cfg.Tokens
	m.NumThreads = cfg.NumThreads
	m.Provider = cfg.Provider
	switch cfg.Model {
	case Whisper:
		m.Whisper.Encoder = cfg.Encoder
		m.Whisper.Decoder = cfg.Decoder
		m.Whisper.Language = utterance.Primary(cfg.Language)
		m.Whisper.Task = cfg.Task
	case Transducer:
		m.Transducer.Encoder = cfg.Encoder
		m.Transducer.Decoder = cfg.Decoder
		m.Transducer.Joiner = cfg.Joiner
		// Naming the type spares sherpa-onnx loading the encoder an
		// extra time to read it from the metadata.
		m.ModelType = "transducer"
	case Paraformer:
		m.Paraformer.Model = cfg.ModelFile
	}
	return c
}

// sherpaRecognizer is an OfflineRecognizer with a buffer for its input.
type sherpaRecognizer struct {
	r   *so.OfflineRecognizer
	buf []float32
}

// recognize decodes pcm in an OfflineStream of its own: offline streams
// take all their audio at once and are decoded once.
func (s *sherpaRecognizer) recognize(pcm []int16) recognized {
	if cap(s.buf) < len(pcm) {
		s.buf = make([]float32, len(pcm))
	}
	buf := s.buf[:len(pcm)]
	for i, v := range pcm {
		buf[i] = float32(v) / 32768
	}
	st := so.NewOfflineStream(s.r)
	defer so.DeleteOfflineStream(st)
	st.AcceptWaveform(16000, buf)
	s.r.Decode(st)
	res := st.GetResult()
	conf := -1.0
	if len(res.YsLogProbs) == len(res.Tokens) {
		conf = confidence(res.YsLogProbs)
	}
	return recognized{Text: res.Text, Confidence: conf}
}

func (s *sherpaRecognizer) free() {
	if s.r != nil {
		so.DeleteOfflineRecognizer(s.r)
		s.r = nil
	}
}

// fileList names c's model files for messages, as "encoder /a.onnx, tokens /t.txt".
func (c Config) fileList() string {
	var parts []string
	for _, f := range c.files() {
		if f.path != "" {
			parts = append(parts, f.key+" "+f.path)
		}
	}
	return strings.Join(parts, ", ")
}
