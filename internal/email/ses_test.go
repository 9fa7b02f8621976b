package email

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/vmx-dev/vmx/internal/email/sestest"
	"github.com/vmx-dev/vmx/internal/retry"
)

func staticAWS() aws.Config {
	return aws.Config{
		Region:           "us-east-1",
		RetryMaxAttempts: 1, // the tests classify errors; the SDK's own retries only slow them
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"}, nil
		}),
	}
}

// sesRequest is the SendEmail body as SES receives it.
type sesRequest struct {
	FromEmailAddress     string
	ConfigurationSetName string
	Destination          struct{ ToAddresses []string }
	Content              struct{ Raw struct{ Data []byte } }
}

func TestSESWire(t *testing.T) {
	var (
		mu   sync.Mutex
		got  sesRequest
		path string
		auth string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		path, auth = r.Method+" "+r.URL.Path, r.Header.Get("Authorization")
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Errorf("body: %v", err)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"MessageId":"0100019abc-def"}`)
	}))
	defer srv.Close()
	sender, err := NewSES(staticAWS(), SESConfig{ConfigurationSet: "voicemail", Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	s := newSink(t, baseConfig(), sender)
	audio := testWAV(3000)
	d := delivery(audio)
	d.Record.Attributes["vmx3_email_to"] = "a@example.com, B <b@example.com>"
	detail, err := s.Deliver(context.Background(), d, "c:email")
	if err != nil {
		t.Fatal(err)
	}
	if want := MessageID("c:email", "vmx.example.com") + " ses-message-id=0100019abc-def"; detail != want {
		t.Errorf("detail %q, want %q", detail, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if path != "POST /v2/email/outbound-emails" || !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKID/") {
		t.Errorf("request %s, authorization %q", path, auth)
	}
	if got.FromEmailAddress != "voicemail@example.com" || got.ConfigurationSetName != "voicemail" ||
		strings.Join(got.Destination.ToAddresses, ",") != "a@example.com,b@example.com" {
		t.Errorf("request %+v", got)
	}
	m := parseMessage(t, got.Content.Raw.Data)
	if m.Header.Get("To") != `<a@example.com>, "B" <b@example.com>` || len(m.Files) != 1 || sha256.Sum256(m.Files[0].Data) != sha256.Sum256(audio) {
		t.Errorf("raw message To %q, %d attachments", m.Header.Get("To"), len(m.Files))
	}
}

func TestSESErrors(t *testing.T) {
	for _, tc := range []struct {
		status    int
		errType   string
		permanent bool
		delay     time.Duration
	}{
		{400, "MessageRejected", true, 0},
		{400, "BadRequestException", true, 0},
		{400, "MailFromDomainNotVerifiedException", true, 0},
		{404, "NotFoundException", true, 0},
		{429, "TooManyRequestsException", false, SESThrottleDelay},
		{400, "LimitExceededException", false, SESQuotaDelay},
		{400, "SendingPausedException", false, SESQuotaDelay},
		{403, "", true, 0},
		{500, "InternalFailure", false, 0},
		{503, "", false, 0},
	} {
		t.Run(tc.errType+http.StatusText(tc.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.errType != "" {
					w.Header().Set("X-Amzn-ErrorType", tc.errType)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				io.WriteString(w, `{"message":"refused by test"}`)
			}))
			defer srv.Close()
			sender, err := NewSES(staticAWS(), SESConfig{Endpoint: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			_, err = sender.Send(context.Background(), "a@example.com", []string{"b@example.com"}, &message{text: "x", html: "x"})
			delay, _ := retry.Delay(err)
			if err == nil || retry.IsPermanent(err) != tc.permanent || delay != tc.delay {
				t.Fatalf("error %v: permanent %v delay %s, want %v %s", err, retry.IsPermanent(err), delay, tc.permanent, tc.delay)
			}
			if !strings.Contains(err.Error(), "ses: send email") {
				t.Errorf("error %v lacks context", err)
			}
		})
	}
}

// TestSESEmulator sends through the real SES v2 client to
// aws-ses-v2-local and checks what it parsed out of the raw message.
func TestSESEmulator(t *testing.T) {
	server := sestest.Start(t)
	sender, err := NewSES(server.Config(), SESConfig{Endpoint: server.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	s := newSink(t, baseConfig(), sender)
	audio := testWAV(8000)
	d := delivery(audio)
	detail, err := s.Deliver(context.Background(), d, "c:email")
	if err != nil {
		t.Fatalf("deliver: %v\n%s", err, server.Output())
	}
	emails, err := server.Store(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(emails) != 1 {
		t.Fatalf("emulator stored %d messages", len(emails))
	}
	e := emails[0]
	if !strings.HasSuffix(detail, "ses-message-id="+e.MessageID) {
		t.Errorf("detail %q does not name SES message %s", detail, e.MessageID)
	}
	if e.Subject != "Voicemail from +15555550100 in Support (4 s)" || !strings.Contains(e.From, "voicemail@example.com") ||
		len(e.Destination.To) != 1 || !strings.Contains(e.Destination.To[0], "support@example.com") {
		t.Errorf("stored %q from %q to %v", e.Subject, e.From, e.Destination.To)
	}
	if !strings.Contains(e.Body.Text, hostile) || !strings.Contains(e.Body.HTML, "&lt;script&gt;") || strings.Contains(e.Body.HTML, "<script>") {
		t.Errorf("bodies:\n%s\n%s", e.Body.Text, e.Body.HTML)
	}
	if len(e.Attachments) != 1 {
		t.Fatalf("%d attachments", len(e.Attachments))
	}
	a := e.Attachments[0]
	if a.Filename != "voicemail-"+d.Record.ContactID+".wav" || a.ContentType != "audio/wav" || sha256.Sum256(a.Content) != sha256.Sum256(audio) {
		t.Errorf("attachment %s %s of %d bytes, want the %d-byte WAV", a.Filename, a.ContentType, len(a.Content), len(audio))
	}
}
