package mkv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// sharedDir locates ../shared beside the repository (VMX_SHARED_DIR
// overrides). Outside CI a missing directory skips the test.
func sharedDir(t testing.TB) string {
	t.Helper()
	d := sharedDirOrEmpty()
	if _, err := os.Stat(d); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("shared fixtures not found at %s", d)
		}
		t.Skipf("shared fixtures not found at %s", d)
	}
	return d
}

func sharedDirOrEmpty() string {
	if d := os.Getenv("VMX_SHARED_DIR"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "shared")
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sharedDir(t), "fixtures", "kvs", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type manifestEntry struct {
	ContactID      string   `json:"contact_id"`
	FragmentNumber string   `json:"fragment_number"`
	ProducerMS     int64    `json:"producer_ms"`
	ServerMS       int64    `json:"server_ms"`
	TrackOrder     []string `json:"track_order"`
	Layout         string   `json:"layout"`
	Truncated      bool     `json:"truncated"`
	ErrorChunk     bool     `json:"error_chunk"`
}

func readManifest(t testing.TB) map[string][]manifestEntry {
	t.Helper()
	var m struct {
		Files map[string][]manifestEntry `json:"files"`
	}
	if err := json.Unmarshal(readFixture(t, "synthetic/manifest.json"), &m); err != nil {
		t.Fatal(err)
	}
	return m.Files
}
