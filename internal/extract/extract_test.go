package extract

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/kvstest"
	"github.com/vmx-dev/vmx/internal/mkv"
)

const (
	contactA = kvstest.ContactA
	contactB = kvstest.ContactB
)

func fixture(t testing.TB, name string) []byte { return kvstest.Read(t, name) }

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// The golden SHA-256 values of shared/fixtures/kvs/README.md.
func TestFixturesGolden(t *testing.T) {
	for _, g := range kvstest.Goldens() {
		t.Run(filepath.Base(g.File), func(t *testing.T) {
			var from, to bytes.Buffer
			rep, err := Run(context.Background(), mkv.NewFragmentReader(bytes.NewReader(fixture(t, g.File))),
				Options{ContactID: contactA, Hash: true}, Outputs{From: &from, To: &to})
			if err != nil {
				t.Fatal(err)
			}
			if got := hexSHA(from.Bytes()); got != g.FromSHA || rep.Tracks["from"].SHA256 != got {
				t.Errorf("from sha256 %s (report %s), want %s", got, rep.Tracks["from"].SHA256, g.FromSHA)
			}
			if got := hexSHA(to.Bytes()); got != g.ToSHA {
				t.Errorf("to sha256 %s, want %s", got, g.ToSHA)
			}
			if rep.Tracks["from"].Bytes != g.Bytes || rep.Tracks["to"].Bytes != g.Bytes || rep.Tracks["from"].DurationMS != g.Bytes/16 {
				t.Errorf("bytes from %d to %d duration %d, want %d", rep.Tracks["from"].Bytes, rep.Tracks["to"].Bytes, rep.Tracks["from"].DurationMS, g.Bytes)
			}
			if rep.FragmentsSeen != g.Seen || rep.FragmentsKept != g.Kept || rep.SkippedOtherContact != g.Other ||
				len(rep.ErrorChunks) != g.Errors || len(rep.Gaps) != g.Gaps || len(rep.TruncatedFragments) != g.Truncate {
				t.Errorf("report seen %d kept %d other %d errors %d gaps %d truncated %d", rep.FragmentsSeen, rep.FragmentsKept, rep.SkippedOtherContact, len(rep.ErrorChunks), len(rep.Gaps), len(rep.TruncatedFragments))
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
	if want := "fragment 91343852333181553735538879356468155603100391038 is truncated: only its 10 complete blocks are kept"; !slices.Contains(rep.Warnings, want) {
		t.Fatalf("warnings %q, want %q", rep.Warnings, want)
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
		if g := kvstest.Goldens()[0]; hexSHA(l) != g.FromSHA || hexSHA(r) != g.ToSHA {
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
	for name, reason := range map[string]string{
		"real/test_mixed_tags.mkv":                 `10 fragments kept but none has an AUDIO_FROM_CUSTOMER or AUDIO_TO_CUSTOMER track (tracks: 1 "test track" V_MS/VFW/FOURCC)`,
		"real/output-get-media-equal-timecode.mkv": "2 fragments kept but none has an AUDIO_FROM_CUSTOMER",
		"real/test_tags_empty_cluster.mkv":         "1 fragment kept but none has a track",
	} {
		t.Run(filepath.Base(name), func(t *testing.T) {
			rep, err := Run(context.Background(), mkv.NewFragmentReader(bytes.NewReader(fixture(t, name))), Options{}, Outputs{From: io.Discard})
			if !errors.Is(err, ErrNoAudio) || !strings.Contains(err.Error(), reason) {
				t.Fatalf("error %v, want ErrNoAudio saying %q", err, reason)
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
