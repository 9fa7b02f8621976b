package cli

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/config"
)

// Files a killed vmx left behind go; files still being written, and files
// that are not vmx's, stay.
func TestRemoveStaleTemp(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, age time.Duration) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-age)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stale := write("vmx-audio-1.wav", 3*time.Minute)
	staleMail := write("vmx-email-2.wav", time.Hour)
	fresh := write("vmx-audio-3.wav", 10*time.Second)
	other := write("notes.txt", time.Hour)
	removeStaleTemp(dir, 2*time.Minute, slog.New(slog.DiscardHandler))
	for p, kept := range map[string]bool{stale: false, staleMail: false, fresh: true, other: true} {
		if _, err := os.Stat(p); (err == nil) != kept {
			t.Errorf("%s: kept %v, want %v", filepath.Base(p), err == nil, kept)
		}
	}
}

// vmx serve starts with its default, relative data directory (make demo
// uses out/demo): every part that needs an absolute path makes it one.
func TestServeWithRelativeDataDir(t *testing.T) {
	t.Chdir(t.TempDir())
	env := map[string]string{"VMX_DATA_DIR": "vmx-data", "VMX_API_KEY": "0123456789abcdef", "VMX_DEFAULT_MODE": "inbox",
		"AWS_EC2_METADATA_DISABLED": "true"}
	cfg := config.Resolve(config.Options{Getenv: func(k string) string { return env[k] }})
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	a, err := openApp(context.Background(), &Env{Stderr: io.Discard, Getenv: func(k string) string { return env[k] }}, cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	a.close()
}
