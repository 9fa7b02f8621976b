//go:build linux

package lambdatest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/lambdatest"
	"github.com/vmx-dev/vmx/internal/media"
)

const (
	linkSecret = "lambdatest-link-secret-0123456789abcdef"
	voicemail  = "8f0c2d3e-5b1a-4c7e-9d21-3a7c1e6f0b42"
	instance   = "arn:aws:connect:us-east-1:111122223333:instance/0c5b1e2a-7d3f-4e8a-9b6c-1d2e3f4a5b6c"
)

// presignEvent is what Connect sends when a guided task's agent flow
// invokes the presigner; parameters are the Lambda block's.
func presignEvent(parameters string) []byte {
	return []byte(`{
  "Name": "ContactFlowEvent",
  "Details": {
    "ContactData": {
      "Attributes": {
        "vmx3_flag": "1",
        "vmx3_voicemail_contact_id": "` + voicemail + `",
        "vmx3_recording_key": "recordings/2026/01/02/` + voicemail + `.wav"
      },
      "AwsRegion": "us-east-1",
      "Channel": "TASK",
      "ContactId": "1a2b3c4d-0000-4000-8000-00000000a001",
      "CustomerEndpoint": null,
      "InitialContactId": "1a2b3c4d-0000-4000-8000-00000000a001",
      "InitiationMethod": "API",
      "InstanceARN": "` + instance + `",
      "PreviousContactId": "` + voicemail + `",
      "Queue": {"ARN": "` + instance + `/queue/5e6f7a8b-1c2d-4e3f-8a9b-0c1d2e3f4a5b", "Name": "Sales"},
      "SystemEndpoint": null,
      "MediaStreams": {"Customer": {"Audio": null}}
    },
    "Parameters": ` + parameters + `
  }
}`)
}

// presignConfig runs vmx's presign function as the template configures
// it: Lambda runs the bootstrap without arguments and its Handler names
// the function.
func presignConfig(t testing.TB, env map[string]string) lambdatest.Config {
	return lambdatest.Config{Binary: vmxBinary(t), Handler: "presign", FunctionName: "vmx-presign", Env: env}
}

var presignEnv = map[string]string{
	"VMX_LINK_SECRET": linkSecret, "VMX_PUBLIC_URL": "https://vmx.example.com", "VMX_CONNECT_GUIDED_LINK_TTL": "15m",
}

// vmx's presign function, run as Lambda runs it, answers Connect's flow
// event with a media link that verifies, fails a bad event through the
// Runtime API's error path and keeps serving.
func TestVMXPresign(t *testing.T) {
	f, err := start(t, presignConfig(t, presignEnv))
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	out, err := f.Invoke(context.Background(), presignEvent(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	var resp map[string]string
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if resp["result"] != "success" || resp["contact_id"] != voicemail || resp["expires_in"] != "900" ||
		resp["presigned_url"] != resp["vmx3_presigned_url"] || len(resp) != 5 {
		t.Fatalf("response %s", out)
	}
	u, err := url.Parse(resp["presigned_url"])
	if err != nil || u.Scheme+"://"+u.Host+u.Path != "https://vmx.example.com"+media.PathPrefix+voicemail {
		t.Fatalf("link %q", resp["presigned_url"])
	}
	exp, _ := strconv.ParseInt(u.Query().Get("exp"), 10, 64)
	if err := (media.Signer{Secret: []byte(linkSecret)}).Verify(voicemail, exp, u.Query().Get("sig"), before); err != nil {
		t.Fatalf("link does not verify: %v", err)
	}
	if d := time.Unix(exp, 0).Sub(before); d < 15*time.Minute-time.Second || d > 15*time.Minute+time.Minute {
		t.Fatalf("link valid for %v after the invocation began, want 15 minutes", d)
	}

	_, err = f.Invoke(context.Background(), presignEvent(`{"contact_id":"../recordings"}`))
	var fe *lambdatest.FunctionError
	if !errors.As(err, &fe) || fe.Message != `connect: presign: bad event: parameter contact_id "../recordings" is not a contact ID` {
		t.Fatalf("bad event: %v", err)
	}
	out, err = f.Invoke(context.Background(), presignEvent(`{"contact_id":"`+voicemail+`"}`))
	if err != nil || !strings.Contains(string(out), `"contact_id":"`+voicemail+`"`) {
		t.Fatalf("after the error: %s, %v", out, err)
	}
}

// Without its link secret the presign function fails its init: the
// process exits before asking for an event, and says why.
func TestVMXPresignInitError(t *testing.T) {
	env := map[string]string{"VMX_PUBLIC_URL": "https://vmx.example.com"}
	_, err := start(t, presignConfig(t, env))
	var ie *lambdatest.InitError
	if !errors.As(err, &ie) || ie.Type != "Runtime.ExitError" || ie.Message != "Runtime exited with error: exit status 1" ||
		!strings.Contains(ie.Logs, "VMX_LINK_SECRET") {
		t.Fatalf("init without a link secret: %v", err)
	}
}
