package vad

import (
	"bytes"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// requireSilero skips the test for reason, or fails it when CI requires
// Silero.
func requireSilero(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("CI") != "" && os.Getenv("VMX_REQUIRE_SILERO") == "1" {
		t.Fatal("VMX_REQUIRE_SILERO=1: " + reason)
	}
	t.Skip(reason)
}

func TestNew(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	d, err := New(Config{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.(*Energy); !ok || d.SampleRate() != 8000 {
		t.Errorf("New(Config{}) = %T at %d Hz, want *Energy at 8000 Hz", d, d.SampleRate())
	}

	// Silero configured but unusable: Energy, and the reason logged.
	logs.Reset()
	missing := filepath.Join(t.TempDir(), "missing.onnx")
	d, err = New(Config{Silero: SileroConfig{Model: missing}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.(*Energy); !ok {
		t.Errorf("New with an unusable model = %T, want *Energy", d)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "silero unavailable") {
		t.Errorf("fallback not logged: %q", logs.String())
	}

	// Asked for Silero alone: the error.
	if _, err := New(Config{Engine: EngineSilero, Silero: SileroConfig{Model: missing}}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("EngineSilero with a missing model: %v, want ErrUnavailable", err)
	}
	if d, err := New(Config{Engine: EngineEnergy, SampleRate: 16000}); err != nil || d.SampleRate() != 16000 {
		t.Errorf("EngineEnergy at 16 kHz: %v, %v", d, err)
	}
	for _, cfg := range []Config{
		{Engine: "whisper"},
		{SampleRate: 12345, Engine: EngineSilero, Silero: SileroConfig{Model: missing}},
		{Silero: SileroConfig{Model: missing, Threshold: 2}},
		{Energy: EnergyConfig{ThresholdDB: -3}},
	} {
		if _, err := New(cfg); err == nil || errors.Is(err, ErrUnavailable) {
			t.Errorf("New(%+v) = %v, want a configuration error", cfg, err)
		}
	}
}

func TestSileroStubOrMissingModel(t *testing.T) {
	_, err := NewSilero(8000, SileroConfig{Model: filepath.Join(t.TempDir(), "none.onnx")})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("NewSilero with no model: %v, want ErrUnavailable", err)
	}
	if _, err := NewSilero(8000, SileroConfig{}); err == nil || errors.Is(err, ErrUnavailable) {
		t.Errorf("NewSilero without a model path: %v, want a configuration error", err)
	}
}

func TestUpsampler(t *testing.T) {
	u := newUpsampler()
	const n = 4000
	for _, hz := range []float64{300, 1000, 3000} {
		u.reset()
		in := pcm16(tone(n, hz, 0.5))
		out := make([]float32, 2*n)
		if got := u.process(out[:n], in[:n/2]) + u.process(out[n:], in[n/2:]); got != 2*n {
			t.Fatalf("process wrote %d samples, want %d", got, 2*n)
		}
		// The output lags by upTaps input samples: compare with the ideal
		// 16 kHz sine so delayed, after the filter has filled.
		var errSum, sigSum float64
		for i := 4 * upTaps; i < 2*n; i++ {
			want := 0.5 * math.Sin(2*math.Pi*hz*(float64(i)/2-upTaps)/testRate)
			errSum += (float64(out[i]) - want) * (float64(out[i]) - want)
			sigSum += want * want
		}
		if snr := 10 * math.Log10(sigSum/errSum); snr < 35 {
			t.Errorf("%v Hz: upsampled with %.1f dB SNR, want ≥ 35", hz, snr)
		}
	}
	u.reset()
	dc := make([]int16, 100)
	for i := range dc {
		dc[i] = 16384
	}
	out := make([]float32, 200)
	u.process(out, dc)
	if math.Abs(float64(out[199])-0.5) > 1e-4 {
		t.Errorf("DC gain: %v, want 0.5", out[199])
	}
	if a := testing.AllocsPerRun(10, func() { u.process(out, dc) }); a != 0 {
		t.Errorf("process allocates %v times", a)
	}
}

// protoMsg encodes length-delimited protobuf fields, for fake ONNX models.
func protoMsg(fields ...any) []byte {
	var b []byte
	for i := 0; i < len(fields); i += 2 {
		num := fields[i].(int)
		var v []byte
		switch x := fields[i+1].(type) {
		case string:
			v = []byte(x)
		case []byte:
			v = x
		}
		b = append(b, byte(num<<3|2), byte(len(v))) // short fields only
		b = append(b, v...)
	}
	return b
}

func TestCheckSileroModel(t *testing.T) {
	vi := func(name string) []byte { return protoMsg(1, name) }
	graph := func(inits []string, in, out []string) []byte {
		var f []any
		for _, s := range inits {
			f = append(f, 5, protoMsg(8, s))
		}
		for _, s := range in {
			f = append(f, 11, vi(s))
		}
		for _, s := range out {
			f = append(f, 12, vi(s))
		}
		return protoMsg(f...)
	}
	// A varint field (ir_version = 8) and a fixed64 one before the graph.
	model := func(g []byte) []byte {
		return append([]byte{0x08, 0x08, 0x11, 1, 2, 3, 4, 5, 6, 7, 8}, protoMsg(7, g)...)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		data  []byte
		v5    bool
		valid bool
	}{
		{"v5", model(graph(nil, []string{"input", "state", "sr"}, []string{"output", "stateN"})), true, true},
		{"v4 with initializers listed", model(graph([]string{"w"}, []string{"input", "sr", "w", "h", "c"}, []string{"output", "hn", "cn"})), false, true},
		{"other model", model(graph(nil, []string{"input", "sr", "state"}, []string{"output", "stateN"})), false, false},
		{"no graph", protoMsg(2, "producer"), false, false},
		{"not protobuf", []byte("\xff\xff\xff"), false, false},
		{"truncated", model(graph(nil, []string{"input", "state", "sr"}, []string{"output", "stateN"}))[:20], false, false},
	} {
		p := filepath.Join(dir, tc.name+".onnx")
		if err := os.WriteFile(p, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		v5, err := checkSileroModel(p)
		if tc.valid && (err != nil || v5 != tc.v5) {
			t.Errorf("%s: v5 %v, %v; want %v, nil", tc.name, v5, err, tc.v5)
		}
		if !tc.valid && !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: %v, want ErrUnavailable", tc.name, err)
		}
	}
	if p := os.Getenv("VMX_SILERO_MODEL"); p != "" {
		if v5, err := checkSileroModel(p); err != nil || !v5 {
			t.Errorf("VMX_SILERO_MODEL %s: v5 %v, %v", p, v5, err)
		}
	}
}
