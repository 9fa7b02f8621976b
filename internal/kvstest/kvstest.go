// Package kvstest gives tests the shared KVS fixtures
// (../shared/fixtures/kvs beside the repository, or $VMX_SHARED_DIR/fixtures/kvs)
// and their golden audio hashes.
package kvstest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Contacts of the synthetic fixtures.
const (
	ContactA   = "7c0e3a52-4f1d-4a8b-9d2e-5b6a1f0c9e31" // the voicemail
	ContactB   = "2b9d6e11-8c3f-4e7a-a1d4-0e5f6a7b8c90" // the previous contact on a reused stream
	InstanceID = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
)

// Golden is the expected audio of contact A in one synthetic fixture.
type Golden struct {
	File     string // relative to fixtures/kvs
	FromSHA  string // SHA-256 of AUDIO_FROM_CUSTOMER PCM
	ToSHA    string // SHA-256 of AUDIO_TO_CUSTOMER PCM
	Bytes    int64  // PCM bytes of each track
	Seen     int    // fragments in the file, error chunks included
	Kept     int    // fragments of contact A
	Other    int    // fragments of other contacts
	Errors   int    // error chunks
	Gaps     int    // jumps in producer time between kept fragments
	Truncate int    // fragments cut by the end of the file
}

// Goldens lists the golden outputs of shared/fixtures/kvs/README.md.
func Goldens() []Golden {
	const (
		fullFrom = "2e21e7869bf120480daa283a331a5b85d6d25660815781612c4e4f33f41d994f"
		fullTo   = "8c5837140baaa64638e0f7a37e11caa5327ef32cb9d8fd12a93f6545d97b8b8d"
	)
	return []Golden{
		{"synthetic/connect_voicemail_ca_layout.mkv", fullFrom, fullTo, 327680, 20, 20, 0, 0, 0, 0},
		{"synthetic/connect_voicemail_nn_layout.mkv", fullFrom, fullTo, 327680, 20, 20, 0, 0, 0, 0},
		{"synthetic/connect_stream_reuse.mkv", "5a8160be3e34e58ffa9531b0063ee46cc2626698f8bf96cc4fb3390716e877cd", "cadd7422c6e55b95d072d81318eaca148514fb77bc3ebf8a7631921164438f81", 196608, 19, 12, 7, 0, 0, 0},
		{"synthetic/connect_gap_truncated_tail.mkv", "42270595f0d8c42b28f5d91d1ddea0e5ea362dc42d7106d3377da6e4a1842e2e", "20b8f8ea34d860e8156eca66c4d31fc63dd5a2a78e5a1e9b556ca240fb8ff999", 70656, 5, 5, 0, 0, 1, 1},
		{"synthetic/gmffl_with_error_chunk.mkv", "003fbeed88b85b84cc916c416d67f9a72f84b0d51c2c165947fe43b6cdc15685", "c35020473aed1b4642cd726cad727b63fff2824ad68cedd7ffb73c7cbd890479", 32768, 3, 2, 0, 1, 1, 0},
	}
}

// Dir returns the fixtures/kvs directory, or "" when it cannot be found.
func Dir() string {
	shared := os.Getenv("VMX_SHARED_DIR")
	if shared == "" {
		_, file, _, _ := runtime.Caller(0)
		shared = filepath.Join(filepath.Dir(file), "..", "..", "..", "shared")
	}
	d := filepath.Join(shared, "fixtures", "kvs")
	if _, err := os.Stat(d); err != nil {
		return ""
	}
	return d
}

// Path returns the path of a fixture. Without the fixtures the test is
// skipped, except in CI, where it fails.
func Path(t testing.TB, name string) string {
	t.Helper()
	d := Dir()
	if d == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("kvstest: shared fixtures not found (set VMX_SHARED_DIR)")
		}
		t.Skip("kvstest: shared fixtures not found (set VMX_SHARED_DIR)")
	}
	return filepath.Join(d, name)
}

// Read returns the bytes of a fixture; see Path.
func Read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(Path(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
