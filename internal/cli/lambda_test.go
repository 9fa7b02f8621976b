package cli

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/config"
	"github.com/vmx-dev/vmx/internal/media"
)

// The presign function answers Connect's flow-invocation event with a
// link that vmx's media handler accepts, valid for connect.guided_link_ttl.
func TestLambdaPresign(t *testing.T) {
	secret := strings.Repeat("s", 40)
	cfg := config.Resolve(config.Options{Getenv: func(k string) string {
		return map[string]string{"VMX_LINK_SECRET": secret, "VMX_PUBLIC_URL": "https://vmx.example.com", "VMX_CONNECT_GUIDED_LINK_TTL": "15m"}[k]
	}})
	h, err := lambdaHandler(cfg, "presign")
	if err != nil {
		t.Fatal(err)
	}
	const contact = "5f2c0a4e-1b3d-4c5e-8f70-9a1b2c3d4e5f"
	event := `{"Name":"ContactFlowEvent","Details":{"ContactData":{"ContactId":"aaaaaaaa-0000-4000-8000-000000000001",
		"PreviousContactId":"` + contact + `","Attributes":{"vmx3_recording_key":"recordings/2026/01/01/` + contact + `.wav"}},"Parameters":{}}}`
	out, err := h.Invoke(context.Background(), []byte(event))
	if err != nil {
		t.Fatal(err)
	}
	var resp map[string]string
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	u, err := url.Parse(resp["vmx3_presigned_url"])
	if err != nil || !strings.HasPrefix(u.String(), "https://vmx.example.com/v1/media/"+contact+"?") {
		t.Fatalf("response %v", resp)
	}
	exp, _ := strconv.ParseInt(u.Query().Get("exp"), 10, 64)
	if err := (media.Signer{Secret: []byte(secret)}).Verify(contact, exp, u.Query().Get("sig"), time.Now()); err != nil {
		t.Fatalf("link does not verify: %v", err)
	}
	if left := time.Until(time.Unix(exp, 0)); left < 14*time.Minute || left > 15*time.Minute+time.Second || resp["expires_in"] != "900" {
		t.Fatalf("link valid for %v, expires_in %q", left, resp["expires_in"])
	}

	if _, err := lambdaHandler(config.Default(), "presign"); err == nil || !strings.Contains(err.Error(), "VMX_LINK_SECRET") {
		t.Fatalf("presign without a link secret: %v", err)
	}
	if _, err := lambdaHandler(cfg, "nope"); err == nil || !strings.Contains(err.Error(), `unknown function "nope"`) {
		t.Fatalf("unknown function: %v", err)
	}
	if r := run(t, map[string]string{"VMX_LINK_SECRET": secret}, "lambda", "presign"); r.code != 1 || !strings.Contains(r.stderr, "AWS_LAMBDA_RUNTIME_API") {
		t.Fatalf("outside Lambda: exit %d %q", r.code, r.stderr)
	}
}
