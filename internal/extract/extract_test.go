package extract

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/mkv"
)

const (
	contactA = "7c0e3a52-4f1d-4a8b-9d2e-5b6a1f0c9e31"
	contactB = "2b9d6e11-8c3f-4e7a-a1d4-0e5f6a7b8c90"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	dir := os.Getenv("VMX_SHARED_DIR")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", "..", "shared")
	}
	b, err := os.ReadFile(filepath.Join(dir, "fixtures", "kvs", name))
	if err != nil {
		if os.Getenv("CI") == "" && errors.Is(err, os.ErrNotExist) {
			t.Skipf("fixture missing: %v", err)
		}
		t.Fatal(err)
	}
	return b
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// The golden SHA-256 values of shared/fixtures/kvs/README.md.
func TestFixturesGolden(t *testing.T) {
	tests := []struct {
		file             string
		fromSHA, toSHA   string
		bytes            int64
		seen, kept       int
		otherContact     int
		errorChunks, gap int
	}{
		{"synthetic/connect_voicemail_ca_layout.mkv", "2e21e7869bf120480daa283a331a5b85d6d25660815781612c4e4f33f41d994f", "8c5837140baaa64638e0f7a37e11caa5327ef32cb9d8fd12a93f6545d97b8b8d", 327680, 20, 20, 0, 0, 0},
		{"synthetic/connect_voicemail_nn_layout.mkv", "2e21e7869bf120480daa283a331a5b85d6d25660815781612c4e4f33f41d994f", "8c5837140baaa64638e0f7a37e11caa5327ef32cb9d8fd12a93f6545d97b8b8d", 327680, 20, 20, 0, 0, 0},
		{"synthetic/connect_stream_reuse.mkv", "5a8160be3e34e58ffa9531b0063ee46cc2626698f8bf96cc4fb3390716e877cd", "cadd7422c6e55b95d072d81318eaca148514fb77bc3ebf8a7631921164438f81", 196608, 19, 12, 7, 0, 0},
		{"synthetic/connect_gap_truncated_tail.mkv", "42270595f0d8c42b28f5d91d1ddea0e5ea362dc42d7106d3377da6e4a1842e2e", "20b8f8ea34d860e8156eca66c4d31fc63dd5a2a78e5a1e9b556ca240fb8ff999", 70656, 5, 5, 0, 0, 1},
		{"synthetic/gmffl_with_error_chunk.mkv", "003fbeed88b85b84cc916c416d67f9a72f84b0d51c2c165947fe43b6cdc15685", "c35020473aed1b4642cd726cad727b63fff2824ad68cedd7ffb73c7cbd890479", 32768, 3, 2, 0, 1, 1},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			var from, to bytes.Buffer
			rep, err := Run(context.Background(), mkv.NewFragmentReader(bytes.NewReader(fixture(t, tc.file))),
				Options{ContactID: contactA, Hash: true}, Outputs{From: &from, To: &to})
			if err != nil {
				t.Fatal(err)
			}
			if got := hexSHA(from.Bytes()); got != tc.fromSHA || rep.Tracks["from"].SHA256 != got {
				t.Errorf("from sha256 %s (report %s), want %s", got, rep.Tracks["from"].SHA256, tc.fromSHA)
			}
			if got := hexSHA(to.Bytes()); got != tc.toSHA {
				t.Errorf("to sha256 %s, want %s", got, tc.toSHA)
			}
			if rep.Tracks["from"].Bytes != tc.bytes || rep.Tracks["to"].Bytes != tc.bytes || rep.Tracks["from"].DurationMS != tc.bytes/16 {
				t.Errorf("bytes from %d to %d duration %d, want %d", rep.Tracks["from"].Bytes, rep.Tracks["to"].Bytes, rep.Tracks["from"].DurationMS, tc.bytes)
			}
			if rep.FragmentsSeen != tc.seen || rep.FragmentsKept != tc.kept || rep.SkippedOtherContact != tc.otherContact ||
				len(rep.ErrorChunks) != tc.errorChunks || len(rep.Gaps) != tc.gap {
				t.Errorf("report seen %d kept %d other %d errors %d gaps %d", rep.FragmentsSeen, rep.FragmentsKept, rep.SkippedOtherContact, len(rep.ErrorChunks), len(rep.Gaps))
			}
		})
	}
}

func TestGapReportAndFill(t *testing.T) {
	data := fixture(t, "synthetic/connect_gap_truncated_tail.mkv")
	var from, to, stereo bytes.Buffer
	rep, err := Run(context.Background(), mkv.NewFragmentReader(bytes.NewReader(data)),
		Options{ContactID: contactA, FillGaps: true}, Outputs{From: &from, To: &to, Stereo: &stereo})
	if err != nil {
		t.Fatal(err)
	}
	// The README: with 1.024 s of silence filled, 5.440 s per track.
	if rep.Tracks["from"].DurationMS != 5440 || rep.Tracks["to"].DurationMS != 5440 || rep.Tracks["stereo"].DurationMS != 5440 {
		t.Fatalf("durations %d %d %d, want 5440", rep.Tracks["from"].DurationMS, rep.Tracks["to"].DurationMS, rep.Tracks["stereo"].DurationMS)
	}
	g := rep.Gaps[0]
	if g.DurationMS != 1024 || !g.Filled || g.At != time.UnixMilli(1767225603072).UTC() ||
		g.AfterFragment != "91343852333181553720683598885043592882465034224" || g.BeforeFragment != "91343852333181553730587119199326634742564589096" {
		t.Fatalf("gap %+v", g)
	}
	// The silence sits between fragment 2 and fragment 4: 3 fragments in.
	silence := from.Bytes()[3*16384 : 4*16384]
	if !bytes.Equal(silence, make([]byte, 16384)) {
		t.Fatal("gap not filled with silence at its place")
	}
	if len(rep.TruncatedFragments) != 1 || rep.TruncatedFragments[0] != "91343852333181553735538879356468155603100391038" {
		t.Fatalf("truncated %v", rep.TruncatedFragments)
	}
	left, right := deinterleave(stereo.Bytes())
	if !bytes.Equal(left, from.Bytes()) || !bytes.Equal(right, to.Bytes()) {
		t.Fatal("stereo channels differ from the mono tracks")
	}
}

func deinterleave(b []byte) (l, r []byte) {
	for i := 0; i+4 <= len(b); i += 4 {
		l = append(l, b[i:i+2]...)
		r = append(r, b[i+2:i+4]...)
	}
	return l, r
}

// Stereo output keeps the caller left and the prompts right whatever the
// track numbering: ca and nn layouts number the tracks the other way round.
func TestStereoFollowsTrackNames(t *testing.T) {
	for _, name := range []string{"connect_voicemail_ca_layout.mkv", "connect_voicemail_nn_layout.mkv"} {
		var stereo bytes.Buffer
		_, err := Run(context.Background(), mkv.NewFragmentReader(bytes.NewReader(fixture(t, "synthetic/"+name))),
			Options{}, Outputs{Stereo: &stereo})
		if err != nil {
			t.Fatal(err)
		}
		l, r := deinterleave(stereo.Bytes())
		if hexSHA(l) != "2e21e7869bf120480daa283a331a5b85d6d25660815781612c4e4f33f41d994f" || hexSHA(r) != "8c5837140baaa64638e0f7a37e11caa5327ef32cb9d8fd12a93f6545d97b8b8d" {
			t.Fatalf("%s: stereo channels are not FROM left, TO right", name)
		}
	}
}

func TestSelection(t *testing.T) {
	reuse := fixture(t, "synthetic/connect_stream_reuse.mkv")
	nums := fragmentNumbers(t, reuse)
	tests := map[string]struct {
		opts      Options
		wantKept  int
		wantFirst string
		wantErr   error
	}{
		"contact B":                {opts: Options{ContactID: contactB}, wantKept: 4, wantFirst: nums[0]},
		"range inside A":           {opts: Options{ContactID: contactA, StartFragment: nums[5], StopFragment: nums[7]}, wantKept: 3, wantFirst: nums[5]},
		"range without contact":    {opts: Options{StartFragment: nums[3], StopFragment: nums[4]}, wantKept: 2, wantFirst: nums[3]},
		"range with leading zeros": {opts: Options{StartFragment: "000" + nums[18]}, wantKept: 1, wantFirst: nums[18]},
		"time range":               {opts: Options{StartTime: time.UnixMilli(1767225601000), StopTime: time.UnixMilli(1767225603200)}, wantKept: 2, wantFirst: nums[5]},
		"unknown contact":          {opts: Options{ContactID: "00000000-0000-0000-0000-000000000000"}, wantErr: ErrNoAudio},
		"stop after contact":       {opts: Options{ContactID: contactA, StopAfterContact: true}, wantKept: 12, wantFirst: nums[4]},
		"range matches another":    {opts: Options{ContactID: contactA, StartFragment: nums[0], StopFragment: nums[3]}, wantErr: ErrNoAudio},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rep, err := Run(context.Background(), mkv.NewFragmentReader(bytes.NewReader(reuse)), tc.opts, Outputs{From: io.Discard})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			if rep.FragmentsKept != tc.wantKept || rep.FirstFragment != tc.wantFirst {
				t.Fatalf("kept %d first %s, want %d %s", rep.FragmentsKept, rep.FirstFragment, tc.wantKept, tc.wantFirst)
			}
		})
	}
}

// StopAfterContact stops reading at the first fragment of the next contact.
func TestStopAfterContactStopsReading(t *testing.T) {
	reuse := fixture(t, "synthetic/connect_stream_reuse.mkv")
	src := &countingSource{Source: mkv.NewFragmentReader(bytes.NewReader(reuse))}
	rep, err := Run(context.Background(), src, Options{ContactID: contactA, StopAfterContact: true}, Outputs{From: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if src.n != 17 || rep.FragmentsSeen != 17 {
		t.Fatalf("read %d fragments, want 17 (4 of B, 12 of A, first of C)", src.n)
	}
}

type countingSource struct {
	Source
	n int
}

func (c *countingSource) Next() (*mkv.Fragment, error) {
	f, err := c.Source.Next()
	if err == nil {
		c.n++
	}
	return f, err
}

func fragmentNumbers(t *testing.T, data []byte) []string {
	fr := mkv.NewFragmentReader(bytes.NewReader(data))
	var nums []string
	for {
		f, err := fr.Next()
		if err == io.EOF {
			return nums
		}
		if err != nil {
			t.Fatal(err)
		}
		nums = append(nums, f.FragmentNumber())
	}
}

func TestRealCapturesReportVideoTracks(t *testing.T) {
	for _, name := range []string{"real/test_mixed_tags.mkv", "real/output-get-media-equal-timecode.mkv", "real/test_tags_empty_cluster.mkv"} {
		t.Run(filepath.Base(name), func(t *testing.T) {
			rep, err := Run(context.Background(), mkv.NewFragmentReader(bytes.NewReader(fixture(t, name))), Options{}, Outputs{From: io.Discard})
			if !errors.Is(err, ErrNoAudio) {
				t.Fatalf("error %v, want ErrNoAudio", err)
			}
			if name != "real/test_tags_empty_cluster.mkv" && (len(rep.TracksSeen) != 1 || rep.TracksSeen[0].Type != 1 || rep.TracksSeen[0].Used != "") {
				t.Fatalf("tracks seen %+v, want one unused video track", rep.TracksSeen)
			}
		})
	}
}

func TestInvalidOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"bad number":     {StartFragment: "12a"},
		"reversed range": {StartFragment: "20", StopFragment: "3"},
		"reversed time":  {StartTime: time.Unix(10, 0), StopTime: time.Unix(5, 0)},
	} {
		if _, err := Run(context.Background(), mkv.NewFragmentReader(bytes.NewReader(nil)), o, Outputs{}); err == nil || errors.Is(err, ErrNoAudio) {
			t.Errorf("%s: error %v, want a validation error", name, err)
		}
	}
}
