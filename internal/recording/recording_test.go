package recording

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/kvssim"
)

// A two-sided call played live, its GetMedia sessions cut every 50 kB
// (mid-fragment), is stored byte for byte: both sides and the stereo file
// hold exactly the PCM the simulator sent, with the contact details.
func TestRecordsLiveCallAcrossSessionBreaks(t *testing.T) {
	t.Parallel()
	from, to := call(6.5, 2, 1)
	s := newSim(t, kvssim.Options{Pace: 10, SessionLimitBytes: 50_000})
	arn, frags := s.stream(t, "call", kvssim.FromPCM(from, to, kvssim.Contact{ContactID: contactA}))
	e := newEnv(t, s, Config{KeyPrefix: "calls/"}, nil)
	s.play(10)

	st := e.start(t, startBody(contactA, arn, frags[0].Number, `"customer_number":"`+caller+`","stereo":true,"transcribe":true,"start_timestamp":"1767225600000"`))
	if st.State != StateRecording || st.CustomerNumber != caller {
		t.Fatalf("started: %+v", st)
	}
	st = e.waitDone(t, contactA, 10*time.Second)
	if st.State != StateCompleted || st.EndedBy != EndStreamEnded || st.Error != "" {
		t.Fatalf("ended: %+v", st)
	}
	if len(st.Warnings) != 1 || !strings.Contains(st.Warnings[0], "no speech-to-text engine") {
		t.Errorf("warnings %q; want one about transcription", st.Warnings)
	}
	if n := s.getMedia.Load(); n < 4 {
		t.Errorf("%d GetMedia sessions; the session limit should have forced at least 4", n)
	}
	for _, c := range []struct {
		track    string
		channels int
		want     []byte
	}{
		{"AUDIO_FROM_CUSTOMER", 1, from},
		{"AUDIO_TO_CUSTOMER", 1, to},
		{"STEREO", 2, interleave(from, to)},
	} {
		f := file(t, st, c.track)
		wantKey := "calls/" + contactA + "_" + st.StartedAt.UTC().Format("20060102T150405Z") + "_" + c.track + ".wav"
		if f.Key != wantKey {
			t.Errorf("key %q, want %q", f.Key, wantKey)
		}
		got := e.pcm(t, f.Key, c.channels)
		if sum(got) != sum(c.want) || f.PCMSHA256 != sum(c.want) || f.PCMBytes != int64(len(c.want)) {
			t.Errorf("%s: %d bytes sha %s (reported %s), want %d bytes sha %s", c.track, len(got), sum(got), f.PCMSHA256, len(c.want), sum(c.want))
		}
	}
	// The contact details row.
	row, err := e.db.GetRecording(context.Background(), contactA)
	if err != nil {
		t.Fatal(err)
	}
	if row.CustomerNumber != caller || !row.CallTime.Equal(time.UnixMilli(1767225600000)) || st.Date != "2026-01-01" || st.Time != "00:00:00" {
		t.Errorf("contact details: %+v, status date %s time %s", row, st.Date, st.Time)
	}
	if st.DurationMS != 6500 || st.LastFragment != frags[len(frags)-1].Number {
		t.Errorf("duration %d ms, last fragment %s", st.DurationMS, st.LastFragment)
	}
	// The temp files go once the row says completed.
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		entries, _ := os.ReadDir(e.cfg.TempDir)
		if len(entries) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("temp files left: %v", entries)
		}
	}
}

// Connect hands out StartFragmentNumber while that fragment is being
// written: a recording started at once waits for it to be complete, and
// records the whole call.
func TestStartWhileFirstFragmentIsWritten(t *testing.T) {
	t.Parallel()
	from, to := call(4, 1, 14)
	s := newSim(t, kvssim.Options{Pace: 2})
	arn, frags := s.stream(t, "call", kvssim.FromPCM(from, to, kvssim.Contact{ContactID: contactA}))
	e := newEnv(t, s, Config{StartFragmentDelay: 700 * time.Millisecond}, nil)
	s.clock.shift.Store(int64(time.Since(s.clock.created))) // the call begins now
	e.start(t, startBody(contactA, arn, frags[0].Number, ""))
	st := e.waitDone(t, contactA, 10*time.Second)
	if got := e.pcm(t, file(t, st, "AUDIO_FROM_CUSTOMER").Key, 1); !bytes.Equal(got, from) {
		t.Fatalf("recorded %d bytes of %d (the end of the call: %v)", len(got), len(from), bytes.HasSuffix(from, got))
	}
}

// On a reused stream, the recording ends where the next contact begins and
// holds only its own contact's audio; NOW starts with the newest fragment.
func TestContactChangeEndsRecording(t *testing.T) {
	t.Parallel()
	fromA, toA := call(3, 1, 2)
	fromB, toB := call(6, 1, 3)
	s := newSim(t, kvssim.Options{Pace: 10})
	arn, frags := s.stream(t, "reused",
		kvssim.FromPCM(fromA, toA, kvssim.Contact{ContactID: contactA}),
		kvssim.FromPCM(fromB, toB, kvssim.Contact{ContactID: contactB}))
	e := newEnv(t, s, Config{}, nil)
	s.play(10)
	e.start(t, startBody(contactA, arn, frags[0].Number, `"from_customer":true,"to_customer":false`))
	st := e.waitDone(t, contactA, 10*time.Second)
	if st.State != StateCompleted || st.EndedBy != EndContactChanged {
		t.Fatalf("ended: %+v", st)
	}
	if len(st.Files) != 1 {
		t.Fatalf("files %+v, want the customer's side only", st.Files)
	}
	if got := e.pcm(t, file(t, st, "AUDIO_FROM_CUSTOMER").Key, 1); !bytes.Equal(got, fromA) {
		t.Errorf("contact A's side: %d bytes, want %d", len(got), len(fromA))
	}
}

// NOW starts with the fragment being written: the recording is the end of
// the call.
func TestStartNow(t *testing.T) {
	t.Parallel()
	from, to := call(8, 1, 4)
	s := newSim(t, kvssim.Options{Pace: 4})
	arn, _ := s.stream(t, "now", kvssim.FromPCM(from, to, kvssim.Contact{ContactID: contactA}))
	e := newEnv(t, s, Config{StartSelector: StartNow}, nil)
	s.play(4)
	time.Sleep(time.Second) // about 5 s of the 8 are out
	e.start(t, startBody(contactA, arn, "", ""))
	st := e.waitDone(t, contactA, 10*time.Second)
	got := e.pcm(t, file(t, st, "AUDIO_FROM_CUSTOMER").Key, 1)
	if len(got) == 0 || len(got) >= len(from) || !bytes.HasSuffix(from, got) {
		t.Fatalf("NOW recorded %d of %d bytes, not the end of the call", len(got), len(from))
	}
}

// A stop request ends the recording at once and stores what was
// recorded: the start of the call.
func TestStop(t *testing.T) {
	t.Parallel()
	from, to := call(20, 2, 5)
	s := newSim(t, kvssim.Options{Pace: 4})
	arn, frags := s.stream(t, "long", kvssim.FromPCM(from, to, kvssim.Contact{ContactID: contactA}))
	e := newEnv(t, s, Config{}, nil)
	s.play(4)
	e.start(t, startBody(contactA, arn, frags[0].Number, ""))
	e.wait(t, contactA, 5*time.Second, "no audio recorded", func(st Status) bool { return st.DurationMS >= 2000 })
	var st Status
	if code := e.do(t, http.MethodPost, "/v1/recordings/"+contactA+"/stop", "", &st); code != http.StatusOK {
		t.Fatalf("stop: %d %+v", code, st)
	}
	if st.State != StateCompleted || st.EndedBy != EndStopped {
		t.Fatalf("stopped: %+v", st)
	}
	for _, c := range []struct {
		track string
		side  []byte
	}{{"AUDIO_FROM_CUSTOMER", from}, {"AUDIO_TO_CUSTOMER", to}} {
		got := e.pcm(t, file(t, st, c.track).Key, 1)
		if len(got) < 2000*16 || len(got) >= len(c.side) || !bytes.HasPrefix(c.side, got) {
			t.Errorf("%s: %d bytes, not the start of the call", c.track, len(got))
		}
	}
	// Stopping again changes nothing.
	var again Status
	if code := e.do(t, http.MethodPost, "/v1/recordings/"+contactA+"/stop", "", &again); code != http.StatusOK || again.Files[0] != st.Files[0] {
		t.Fatalf("second stop: %d %+v", code, again)
	}
}

// A stop that reaches another replica is seen at the owner's next
// checkpoint.
func TestStopThroughDatabase(t *testing.T) {
	t.Parallel()
	from, to := call(20, 2, 6)
	s := newSim(t, kvssim.Options{Pace: 4})
	arn, frags := s.stream(t, "long", kvssim.FromPCM(from, to, kvssim.Contact{ContactID: contactA}))
	e := newEnv(t, s, Config{}, nil)
	s.play(4)
	e.start(t, startBody(contactA, arn, frags[0].Number, ""))
	e.wait(t, contactA, 5*time.Second, "no audio recorded", func(st Status) bool { return st.DurationMS >= 1000 })
	e.recorder(t) // the API of another replica, which does not run the recording
	var st Status
	if code := e.do(t, http.MethodPost, "/v1/recordings/"+contactA+"/stop", "", &st); code != http.StatusAccepted || st.State != StateRecording {
		t.Fatalf("stop at another replica: %d %+v", code, st)
	}
	st = e.waitDone(t, contactA, 5*time.Second)
	if st.State != StateCompleted || st.EndedBy != EndStopped {
		t.Fatalf("stopped: %+v", st)
	}
}

// The maximum duration ends a recording however long the call.
func TestMaxDuration(t *testing.T) {
	t.Parallel()
	from, to := call(20, 2, 7)
	s := newSim(t, kvssim.Options{Pace: 4})
	arn, frags := s.stream(t, "long", kvssim.FromPCM(from, to, kvssim.Contact{ContactID: contactA}))
	e := newEnv(t, s, Config{MaxDuration: 1500 * time.Millisecond}, nil)
	s.play(4)
	e.start(t, startBody(contactA, arn, frags[0].Number, ""))
	st := e.waitDone(t, contactA, 5*time.Second)
	if st.State != StateCompleted || st.EndedBy != EndMaxDuration {
		t.Fatalf("ended: %+v", st)
	}
	got := e.pcm(t, file(t, st, "AUDIO_FROM_CUSTOMER").Key, 1)
	if len(got) < 2000*16 || len(got) >= len(from) || !bytes.HasPrefix(from, got) {
		t.Errorf("%d bytes in 1.5 s at 4× speed, not the start of the call", len(got))
	}
}

// vmx stopping suspends a recording at its checkpoint; the next Run
// resumes it after its last fragment and the stored audio is the whole
// call, without a hole or a repeat. A crash (no final checkpoint, more
// written than checkpointed, a fresh heartbeat) resumes the same way once
// the heartbeat is stale.
func TestResume(t *testing.T) {
	t.Parallel()
	for _, crash := range []bool{false, true} {
		name := "shutdown"
		if crash {
			name = "crash"
		}
		t.Run(name, func(t *testing.T) {
			from, to := call(10, 2, 8)
			s := newSim(t, kvssim.Options{Pace: 5, SessionLimitBytes: 70_000})
			arn, frags := s.stream(t, "call", kvssim.FromPCM(from, to, kvssim.Contact{ContactID: contactA}))
			e := newEnv(t, s, Config{ResumeAfter: 400 * time.Millisecond}, nil)
			stop := runRecorder(t, e.rec)
			s.play(5)
			e.start(t, startBody(contactA, arn, frags[0].Number, `"stereo":true`))
			e.wait(t, contactA, 5*time.Second, "no audio recorded", func(st Status) bool { return st.DurationMS >= 3000 })
			stop()

			row, err := e.db.GetRecording(context.Background(), contactA)
			if err != nil || row.State != StateRecording {
				t.Fatalf("after shutdown: %+v %v", row, err)
			}
			if crash {
				// The process died after a heartbeat, with audio written
				// past its checkpoint.
				row.HeartbeatAt = time.Now().UTC()
				if _, err := e.db.SaveRecording(context.Background(), row); err != nil {
					t.Fatal(err)
				}
				for _, n := range []string{"from", "to", "stereo"} {
					f, err := os.OpenFile(filepath.Join(e.cfg.TempDir, contactA, n+".pcm"), os.O_APPEND|os.O_WRONLY, 0)
					if err != nil {
						t.Fatal(err)
					}
					f.Write(bytes.Repeat([]byte{0x55}, 3000))
					f.Close()
				}
			}
			restarted := time.Now()
			e.rec = e.recorder(t)
			runRecorder(t, e.rec)
			st := e.waitDone(t, contactA, 10*time.Second)
			if st.State != StateCompleted || st.EndedBy != EndStreamEnded || st.Resumes != 1 {
				t.Fatalf("after resume: %+v", st)
			}
			if crash && time.Since(restarted) < 300*time.Millisecond {
				t.Errorf("resumed before the heartbeat went stale")
			}
			for _, c := range []struct {
				track    string
				channels int
				want     []byte
			}{{"AUDIO_FROM_CUSTOMER", 1, from}, {"AUDIO_TO_CUSTOMER", 1, to}, {"STEREO", 2, interleave(from, to)}} {
				if got := e.pcm(t, file(t, st, c.track).Key, c.channels); !bytes.Equal(got, c.want) {
					t.Errorf("%s: %d bytes, want %d (equal prefix %v)", c.track, len(got), len(c.want), bytes.HasPrefix(c.want, got))
				}
			}
		})
	}
}

// A recording whose files cannot be stored is kept and stored by a later
// sweep.
func TestStoreRetried(t *testing.T) {
	t.Parallel()
	from, to := call(2, 1, 9)
	s := newSim(t, kvssim.Options{})
	arn, frags := s.stream(t, "call", kvssim.FromPCM(from, to, kvssim.Contact{ContactID: contactA}))
	e := newEnv(t, s, Config{ResumeAfter: 300 * time.Millisecond}, nil)
	failing := &flakyBlobs{Blobs: e.blobs}
	failing.fail.Store(1)
	e.deps.Blobs = failing
	e.rec = e.recorder(t)
	runRecorder(t, e.rec)
	e.start(t, startBody(contactA, arn, frags[0].Number, ""))
	st := e.waitDone(t, contactA, 5*time.Second)
	if st.State != StateCompleted || len(st.Files) != 2 || failing.fail.Load() >= 0 {
		t.Fatalf("after a failed store: %+v", st)
	}
	if got := e.pcm(t, file(t, st, "AUDIO_TO_CUSTOMER").Key, 1); !bytes.Equal(got, to) {
		t.Errorf("stored after a retry: %d bytes, want %d", len(got), len(to))
	}
}

// flakyBlobs fails the first Puts.
type flakyBlobs struct {
	Blobs
	fail atomic.Int32
}

func (f *flakyBlobs) Put(ctx context.Context, key string, r io.Reader, attrs blob.Attrs) error {
	if f.fail.Add(-1) >= 0 {
		io.Copy(io.Discard, io.LimitReader(r, 100))
		return errors.New("S3 is down")
	}
	return f.Blobs.Put(ctx, key, r, attrs)
}
