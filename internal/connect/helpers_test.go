package connect_test

import (
	"regexp"
	"strings"
	"testing"

	sdkconnect "github.com/aws/aws-sdk-go-v2/service/connect"

	"github.com/vmx-dev/vmx/internal/connect"
	"github.com/vmx-dev/vmx/internal/connect/connecttest"
)

const (
	instanceID = connecttest.DefaultInstanceID
	queueID    = "66666666-7777-8888-9999-000000000000"
	agentID    = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
	contactID  = "8f0c2d3e-5b1a-4c7e-9d21-3a7c1e6f0b42"
	arnPrefix  = "arn:aws:connect:us-east-1:" + connecttest.DefaultAccount + ":instance/" + instanceID
	queueARN   = arnPrefix + "/queue/" + queueID
	agentQARN  = arnPrefix + "/queue/agent/" + agentID
)

// newFake starts the shared Amazon Connect fake.
func newFake(t *testing.T) *connecttest.Server {
	return connecttest.Start(t, connecttest.Options{})
}

// client is vmx's own client of the fake, without SDK retries so that each
// call is one request.
func client(f *connecttest.Server) *sdkconnect.Client {
	return connect.NewClient(f.AWSConfig(), f.URL)
}

// fail is an error answer of the fake.
func fail(status int, code string) connecttest.Failure {
	return connecttest.Failure{Status: status, Code: code}
}

func hasPrefixAuth(r connecttest.Request) bool {
	return strings.HasPrefix(r.Auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") && strings.Contains(r.Auth, "/us-east-1/connect/aws4_request")
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
