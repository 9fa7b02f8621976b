package utterance

import (
	"fmt"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/audio/vad"
)

func TestOptions(t *testing.T) {
	o := Options{}.WithDefaults()
	if o.Pause != 400*time.Millisecond || o.MaxUtterance != 30*time.Second {
		t.Errorf("defaults %+v", o)
	}
	if errs := o.Validate(); errs != nil {
		t.Errorf("defaults invalid: %v", errs)
	}
	set := Options{Pause: time.Second, MaxUtterance: 10 * time.Second}
	if got := set.WithDefaults(); got != set {
		t.Errorf("set fields changed: %+v", got)
	}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Pause: 50 * time.Millisecond, MaxUtterance: time.Minute}, "[pause: 50ms must be at least 100ms]"},
		{Options{Pause: 100 * time.Millisecond, MaxUtterance: time.Second}, "[max_utterance: 1s must be between 2s and 5m]"},
		{Options{Pause: time.Second, MaxUtterance: 6 * time.Minute}, "[max_utterance: 6m0s must be between 2s and 5m]"},
		{Options{Pause: -1, MaxUtterance: -1}, "[pause: -1ns must be at least 100ms max_utterance: -1ns must be between 2s and 5m]"},
		{Options{Pause: 100 * time.Millisecond, MaxUtterance: 2 * time.Second}, "[]"},
		{Options{Pause: 100 * time.Millisecond, MaxUtterance: LongestMaxUtterance}, "[]"},
	} {
		if got := fmt.Sprint(tc.o.Validate()); got != tc.want {
			t.Errorf("Validate(%+v) = %s, want %s", tc.o, got, tc.want)
		}
	}
	// Pauses split utterances; short silences inside them stay speech.
	if v := (Options{Pause: time.Second, MaxUtterance: time.Minute}).vadOptions(); v.SplitPause != time.Second || v.MinSilence != 300*time.Millisecond || v.MaxUtterance != time.Minute {
		t.Errorf("vad options %+v", v)
	}
	if v := (Options{Pause: 200 * time.Millisecond}).vadOptions(); v.MinSilence != 200*time.Millisecond {
		t.Errorf("vad options %+v", v)
	}
}

func TestCheckVAD(t *testing.T) {
	if err := (Options{}).CheckVAD(); err != nil {
		t.Errorf("energy detector: %v", err)
	}
	o := Options{VAD: vad.Config{Engine: "psychic", SampleRate: 16000}}
	if err := o.CheckVAD(); err == nil {
		t.Error("unknown detector accepted")
	}
	if c := o.vadConfig(8000); c.SampleRate != 8000 || c.Engine != "psychic" {
		t.Errorf("vad config %+v", c)
	}
}

func TestSpeaks(t *testing.T) {
	for tag, ok := range map[string]bool{"": true, "en-US": true, "en_GB": true, "EN": true, "en": true, "es-US": false, "fr": false} {
		for _, model := range []string{"en-US", "en"} {
			if Speaks(model, tag) != ok {
				t.Errorf("Speaks(%q, %q) = %v", model, tag, !ok)
			}
		}
	}
	if !Speaks("zh-CN", "zh-TW") || Speaks("zh-CN", "en-US") {
		t.Error("a zh model")
	}
	for tag, want := range map[string]string{"en-US": "en", "EN_gb": "en", "de": "de", "": "", "zh-Hant-TW": "zh"} {
		if got := Primary(tag); got != want {
			t.Errorf("Primary(%q) = %q, want %q", tag, got, want)
		}
	}
}
