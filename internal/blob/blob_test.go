package blob_test

import (
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/blob/blobtest"
)

func TestLocal(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return blobtest.NewLocal(t) })
}

func TestS3Gofakes3(t *testing.T) {
	srv := blobtest.Gofakes3(t)
	blobtest.RunWith(t, func(t *testing.T) blob.Store { return srv.NewStore(t) }, blobtest.Quirks{MergesMetadataOnOverwrite: true})
}

func TestS3Versitygw(t *testing.T) {
	srv := blobtest.Versitygw(t)
	blobtest.Run(t, func(t *testing.T) blob.Store { return srv.NewStore(t) })
}

func TestKeys(t *testing.T) {
	// 23:30 in New York on 13 September is 03:30 UTC on the 14th.
	call := time.Date(2025, 9, 13, 23, 30, 0, 0, time.FixedZone("EDT", -4*3600))
	const id = "5b2f4c1e-0f7a-4d55-9e3c-0a1b2c3d4e5f"
	if got, want := blob.RecordingKey(call, id), "recordings/2025/09/14/"+id+".wav"; got != want {
		t.Errorf("RecordingKey = %q, want %q", got, want)
	}
	if got, want := blob.TranscriptKey(call, id), "transcripts/2025/09/14/"+id+".json"; got != want {
		t.Errorf("TranscriptKey = %q, want %q", got, want)
	}
	if !blob.ValidKey(blob.RecordingKey(call, id)) {
		t.Error("RecordingKey is not a ValidKey")
	}
}

func TestValidKey(t *testing.T) {
	for key, want := range map[string]bool{
		"a":                  true,
		"recordings/a.wav":   true,
		"a b/c+d=e.wav":      true,
		"":                   false,
		".":                  false,
		"..":                 false,
		"/a":                 false,
		"a/":                 false,
		"a//b":               false,
		"a/./b":              false,
		"a/../b":             false,
		".hidden":            false,
		"a/.meta/b":          false,
		`a\b`:                false,
		"bad\xffutf8":        false,
		"recordings/2025/..": false,
	} {
		if got := blob.ValidKey(key); got != want {
			t.Errorf("ValidKey(%q) = %v, want %v", key, got, want)
		}
	}
}
