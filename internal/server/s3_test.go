package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/blob/blobtest"
	"github.com/vmx-dev/vmx/internal/ivr"
	"github.com/vmx-dev/vmx/internal/voicemail"
	"github.com/vmx-dev/vmx/internal/wav"
)

// The Voicemail Express 2025 path on a real S3 server: Connect's IVR
// recording is cut at the voicemail's timestamp, the WAV is stored in S3, and
// its media link redirects to a presigned GET that versitygw serves; a
// tampered link or presigned URL is refused.
func TestIVRRecordingOnS3(t *testing.T) {
	s3srv := blobtest.Versitygw(t)
	recordings := s3srv.NewStore(t) // vmx's bucket
	connectBucket := s3srv.NewBucket(t)
	connect, err := blob.NewS3(s3srv.Client(), connectBucket, blob.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A 4 s IVR recording: the greeting, then the caller from 1.5 s.
	ctx := context.Background()
	pcm := make([]byte, 4*16000)
	for i := 0; i < len(pcm); i += 2 {
		binary.LittleEndian.PutUint16(pcm[i:], uint16(i*31))
	}
	var rec bytes.Buffer
	w, _ := wav.NewWriter(&rec, wav.Telephone, int64(len(pcm)))
	w.Write(pcm)
	w.Close()
	key := "connect/alias/CallRecordings/2026/01/03/dd000000-0000-4000-8000-000000000001_20260103T10:00_UTC.wav"
	if err := connect.Put(ctx, key, &rec, blob.Attrs{ContentType: "audio/wav"}); err != nil {
		t.Fatal(err)
	}

	f := newFixtureOn(t, stores{blobs: recordings, ivr: func(bucket string) (ivr.Source, error) {
		return blob.NewS3(s3srv.Client(), bucket, blob.S3Options{})
	}})
	contact := "dd000000-0000-4000-8000-000000000001"
	start := time.Date(2026, 1, 3, 10, 0, 0, 0, time.UTC)
	ctrJSON, _ := json.Marshal(map[string]any{
		"ContactId": contact, "Channel": "VOICE", "InitiationTimestamp": start.Add(-30 * time.Second).Format(time.RFC3339),
		"InstanceARN": "arn:aws:connect:us-east-1:111122223333:instance/11111111-2222-3333-4444-555555555555",
		"Attributes": map[string]string{"vmx3_flag": "1", "vmx3_from": "+15555550100", "vmx3_lang": "en-US",
			"vmx3_timestamp": start.Add(1500 * time.Millisecond).Format(time.RFC3339Nano)},
		"Recordings": []map[string]any{{"Location": connectBucket + "/" + key, "StorageType": "S3", "ParticipantType": "IVR",
			"MediaStreamType": "AUDIO", "StartTimestamp": start.Format(time.RFC3339), "StopTimestamp": start.Add(4 * time.Second).Format(time.RFC3339)}},
	})
	if code, body := f.post(t, "/v1/ctr", ctrJSON); code != http.StatusAccepted {
		t.Fatalf("intake: %d %s", code, body)
	}
	f.waitDelivered(t, contact)

	var got voicemail.Record
	f.getJSON(t, "/v1/voicemails/"+contact, &got)
	want := sha256.Sum256(pcm[1500*16:])
	if got.DurationMS != 2500 || !strings.HasPrefix(got.AudioKey, "recordings/2026/01/03/") {
		t.Fatalf("voicemail %+v", got)
	}
	link := f.hook.bodies[contact][0].MediaURL
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	presigned := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(presigned, s3srv.Endpoint) {
		t.Fatalf("media link: %d %q", resp.StatusCode, presigned)
	}
	resp, err = http.Get(presigned)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r, err := wav.NewReader(bytes.NewReader(stored))
	if err != nil {
		t.Fatalf("presigned GET %d: %v", resp.StatusCode, err)
	}
	data, _ := io.ReadAll(r)
	if sha256.Sum256(data) != want {
		t.Fatal("the recording served through the link is not the caller's audio from the voicemail's timestamp")
	}

	// Tampering with the link or with the presigned URL is refused.
	u, _ := url.Parse(link)
	q := u.Query()
	q.Set("sig", strings.Repeat("0", len(q.Get("sig"))))
	u.RawQuery = q.Encode()
	if resp, _ := noRedirect.Get(u.String()); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("tampered media link: %d", resp.StatusCode)
	}
	pu, _ := url.Parse(presigned)
	pu.Path = strings.Replace(pu.Path, contact, "dd000000-0000-4000-8000-000000000002", 1)
	if resp, _ := http.Get(pu.String()); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("tampered presigned URL: %d", resp.StatusCode)
	}
}
