package mkv

import (
	"encoding/json"
	"testing"

	"github.com/vmx-dev/vmx/internal/kvstest"
)

func readFixture(t testing.TB, name string) []byte { return kvstest.Read(t, name) }

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
