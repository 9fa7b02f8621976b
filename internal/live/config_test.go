package live

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/kvs"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{Targets: []TargetConfig{{URL: "https://example.test/hook"}, {URL: "http://localhost:9/x", Secret: SecretConfig{Value: "v", In: SecretInQuery}}}}.WithDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	t0, t1 := c.Targets[0], c.Targets[1]
	if c.Language != "en-US" || c.Redaction.Disabled || c.Redaction.MinRun != 4 || c.Pause != 600*time.Millisecond ||
		c.MaxConversations != 100 || c.MaxMessages != 1000 || c.Feed.At != "02:00" ||
		c.Heartbeat != 2*time.Second || c.StopPoll != 500*time.Millisecond || c.StaleAfter != 10*time.Second {
		t.Errorf("defaults: %+v", c)
	}
	if t0.Name != "target1" || t0.Timeout != 5*time.Second || t0.QueueSize != 1000 || t0.Concurrency != 4 || t0.MaxAge != 30*time.Second ||
		t0.Secret.In != SecretInHeader || t0.Secret.Name != "X-Api-Key" || t1.Secret.Name != "api_key" {
		t.Errorf("target defaults: %+v %+v", t0, t1)
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{
		Pause:            50 * time.Millisecond,
		MaxConversations: -1,
		StopPoll:         2 * time.Second,
		StaleAfter:       3 * time.Second,
		Feed:             FeedConfig{Enabled: true, At: "25:00"},
		Targets: []TargetConfig{
			{Name: "a", URL: "ftp://x", CertFile: "c.pem"},
			{Name: "a", URL: "https://u:p@x/", Secret: SecretConfig{In: "cookie"}, OAuth2: OAuth2Config{TokenURL: "https://t/"}},
			{Name: strings.Repeat("n", 65), URL: "https://x/"},
			{Name: strings.Repeat("m", 64), URL: "https://x/"},
		},
	}.WithDefaults()
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"pause: 50ms", "max_conversations: -1", "feed.at", "stop_poll: 2s", "stale_after: 3s must be at least 3 heartbeats (6s)", `targets[0] (a).url: "ftp://x"`, "cert_file and key_file",
		`targets[1].name: "a" is used twice`, "must not carry credentials", `secret.in: "cookie"`, "client_id and client_secret",
		`name: "nnnnn`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), `name: "mmmm`) {
		t.Errorf("a name of 64 characters was refused:\n%v", err)
	}
}

// FuzzStartRequest: no body makes check panic, and what it accepts is a
// live read kvs accepts.
func FuzzStartRequest(f *testing.F) {
	f.Add(`{"namespace":"amazonconnect","guid":"g","amazonConnectParams":{"streamArn":"arn:aws:kinesisvideo:us-east-1:1:stream/s/1","startSelectorType":"NOW"}}`)
	f.Add(`{"namespace":"amazonconnect","guid":"g","amazonConnectParams":{"streamArn":"arn:aws:kinesisvideo:us-east-1:1:stream/s/1","startSelectorType":"FRAGMENT_NUMBER","afterFragmentNumber":"91343852333181432392682062607743920146264368916"}}`)
	f.Add(`{"namespace":"amazonconnect","guid":"","autotranscribeParams":{"language":"en US","redaction":false}}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		var req StartRequest
		if json.Unmarshal([]byte(body), &req) != nil {
			return
		}
		live, err := req.check()
		if err != nil {
			if err.HTTPStatus != 400 || err.Description == "" {
				t.Fatalf("error %+v", err)
			}
			return
		}
		if req.GUID == "" || live.Stream.ARN == "" || (live.Start.Type != kvs.StartNow && live.Start.Type != kvs.StartFragmentNumber) {
			t.Fatalf("accepted %q as %+v", body, live)
		}
	})
}
