package vad

import "fmt"

// SileroConfig configures [Silero].
type SileroConfig struct {
	// Model is the path of silero_vad.onnx (Silero VAD v4 or v5), as printed
	// by scripts/fetch-silero.sh. Required.
	Model string
	// Threshold is the speech probability above which a 32 ms window is
	// speech, between 0.01 and 0.99; 0.5 by default.
	Threshold float64
	// Threads is the number of onnxruntime threads; 1 by default.
	Threads int
}

// resolve applies defaults and checks c for a stream at rate.
func (c SileroConfig) resolve(rate int) (SileroConfig, error) {
	if rate != 8000 && rate != 16000 {
		return c, fmt.Errorf("vad: silero: sample rate %d: must be 8000 or 16000", rate)
	}
	if c.Model == "" {
		return c, fmt.Errorf("vad: silero.model: must be set")
	}
	if c.Threshold == 0 {
		c.Threshold = 0.5
	}
	if c.Threshold < 0.01 || c.Threshold > 0.99 {
		return c, fmt.Errorf("vad: silero.threshold: %v must be 0.01 to 0.99", c.Threshold)
	}
	if c.Threads == 0 {
		c.Threads = 1
	}
	if c.Threads < 0 {
		return c, fmt.Errorf("vad: silero.threads: %d must be positive", c.Threads)
	}
	return c, nil
}
