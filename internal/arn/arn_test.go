package arn_test

import (
	"strings"
	"testing"

	"github.com/vmx-dev/vmx/internal/arn"
)

const (
	instanceARN = "arn:aws:connect:us-east-1:123456789012:instance/11111111-2222-3333-4444-555555555555"
	instanceID  = "11111111-2222-3333-4444-555555555555"
)

func TestParseConnect(t *testing.T) {
	for _, tc := range []struct {
		arn  string
		want arn.Connect
		ok   bool
	}{
		{instanceARN, arn.Connect{Partition: "aws", Region: "us-east-1", Account: "123456789012", Instance: instanceID}, true},
		{"arn:aws-cn:connect:cn-north-1:123456789012:instance/i/contact-flow/f", arn.Connect{Partition: "aws-cn", Region: "cn-north-1", Account: "123456789012", Instance: "i", Resource: "contact-flow/f"}, true},
		{"arn:aws-iso-b:connect:us-isob-east-1:123456789012:instance/i/queue/q", arn.Connect{Partition: "aws-iso-b", Region: "us-isob-east-1", Account: "123456789012", Instance: "i", Resource: "queue/q"}, true},
		{instanceARN + "/", arn.Connect{}, false},
		{"arn:aws:connect:us-east-1:123456789012:instance/", arn.Connect{}, false},
		{"arn:aws:connect:us-east-1:123456789012:phone-number/p", arn.Connect{}, false},
		{"arn:aws:connect:us-east-1:123456789012:instance/i.j", arn.Connect{}, false},
		{"arn:aws:connect:useast1:123456789012:instance/i", arn.Connect{}, false},
		{"arn:aws:connect:us-east:123456789012:instance/i", arn.Connect{}, false},
		{"arn:aws:connect:US-EAST-1:123456789012:instance/i", arn.Connect{}, false},
		{"arn:aws:connect:us--east-1:123456789012:instance/i", arn.Connect{}, false},
		{"arn:aws:connect:us-east-1:1234:instance/i", arn.Connect{}, false},
		{"arn:aws:connect:us-east-1:12345678901a:instance/i", arn.Connect{}, false},
		{"arn:aws:connect:::instance/i", arn.Connect{}, false},
		{"arn:amazon:connect:us-east-1:123456789012:instance/i", arn.Connect{}, false},
		{"arn:aws-:connect:us-east-1:123456789012:instance/i", arn.Connect{}, false},
		{"arn:aws-iso-:connect:us-east-1:123456789012:instance/i", arn.Connect{}, false},
		{"arn:awsx:connect:us-east-1:123456789012:instance/i", arn.Connect{}, false},
		{"arn:aws:connectx:us-east-1:123456789012:instance/i", arn.Connect{}, false},
		{"ARN:aws:connect:us-east-1:123456789012:instance/i", arn.Connect{}, false},
		{"", arn.Connect{}, false},
	} {
		got, ok := arn.ParseConnect(tc.arn)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseConnect(%q) = %+v, %v; want %+v, %v", tc.arn, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseQueue(t *testing.T) {
	const base = "arn:aws:connect:us-east-1:123456789012:instance/inst-1"
	for _, tc := range []struct {
		arn  string
		want arn.Queue
		ok   bool
	}{
		{base + "/queue/q-1", arn.Queue{Instance: "inst-1", Queue: "q-1"}, true},
		{base + "/queue/agent/a-1", arn.Queue{Instance: "inst-1", Agent: "a-1"}, true},
		{"arn:aws-us-gov:connect:us-gov-west-1:123456789012:instance/inst-1/queue/q-1", arn.Queue{Instance: "inst-1", Queue: "q-1"}, true},
		{"arn:aws-iso-b:connect:us-isob-east-1:123456789012:instance/i/queue/q", arn.Queue{Instance: "i", Queue: "q"}, true},
		{base, arn.Queue{}, false},
		{base + "/queue/agent", arn.Queue{}, false},
		{base + "/queue/", arn.Queue{}, false},
		{base + "/queue/q-1/x", arn.Queue{}, false},
		{base + "/queue/agent/a/b", arn.Queue{}, false},
		{base + "/contact-flow/f-1", arn.Queue{}, false},
		{"arn:aws:connect:us-east-1:123456789012:instance//queue/q", arn.Queue{}, false},
		{"arn:aws:connect:useast1:123456789012:instance/i/queue/q", arn.Queue{}, false},
		{"arn:amazon:connect:us-east-1:123456789012:instance/i/queue/q", arn.Queue{}, false},
		{"arn:aws:s3:::bucket/queue/q", arn.Queue{}, false},
		{"", arn.Queue{}, false},
	} {
		got, ok := arn.ParseQueue(tc.arn)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseQueue(%q) = %+v, %v; want %+v, %v", tc.arn, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseInstance(t *testing.T) {
	for s, want := range map[string]string{
		instanceARN:                    instanceID,
		instanceARN + "/queue/q":       "",
		instanceARN + "/":              "",
		" " + instanceARN:              "",
		"arn:aws:connect:us-east-1:1:": "",
	} {
		if got, ok := arn.ParseInstance(s); got != want || ok != (want != "") {
			t.Errorf("ParseInstance(%q) = %q, %v; want %q", s, got, ok, want)
		}
	}
}

func TestFlowID(t *testing.T) {
	const flow = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	for s, want := range map[string]string{
		flow:                                          flow,
		" " + flow + "\n":                             flow,
		instanceARN + "/contact-flow/" + flow:         flow,
		" " + instanceARN + "/contact-flow/f ":        "f",
		instanceARN + "/contact-flow/":                "",
		instanceARN + "/contact-flow/f/x":             "",
		instanceARN + "/queue/" + flow:                "",
		instanceARN:                                   "",
		"arn:aws:connect:::instance/i/contact-flow/f": "",
		"not a flow":                                  "",
		"":                                            "",
	} {
		if got, ok := arn.FlowID(s); ok != (want != "") || ok && got != want {
			t.Errorf("FlowID(%q) = %q, %v; want %q", s, got, ok, want)
		}
	}
}

func TestIsKinesisVideoStream(t *testing.T) {
	for s, want := range map[string]bool{
		"arn:aws:kinesisvideo:us-east-1:123456789012:stream/myprefix-connect-contact-1/1736282293468": true,
		"arn:aws-us-gov:kinesisvideo:us-gov-west-1:123456789012:stream/s/1":                           true,
		"arn:aws:kinesisvideo:us-east-1:123456789012:stream/":                                         false,
		"arn:aws:kinesis:us-east-1:123456789012:stream/s/1":                                           false,
		"arn:aws:kinesisvideo:us-east-1:1234:stream/s/1":                                              false,
		"arn:aws:kinesisvideo:useast1:123456789012:stream/s/1":                                        false,
		"arn:aws:kinesisvideo:us-east-1:123456789012:channel/s/1":                                     false,
	} {
		if arn.IsKinesisVideoStream(s) != want {
			t.Errorf("IsKinesisVideoStream(%q) = %v", s, !want)
		}
	}
}

func TestIsResourceID(t *testing.T) {
	for s, want := range map[string]bool{
		instanceID:               true,
		"Attr_Key-1":             true,
		strings.Repeat("a", 256): true,
		strings.Repeat("a", 257): false,
		"":                       false,
		"a b":                    false,
		"a/b":                    false,
		"a.b":                    false,
		"é":                      false,
	} {
		if arn.IsResourceID(s) != want {
			t.Errorf("IsResourceID(%q) = %v", s, !want)
		}
	}
}

func FuzzParseQueue(f *testing.F) {
	for _, s := range []string{
		"arn:aws:connect:us-east-1:123456789012:instance/i/queue/q",
		"arn:aws:connect:us-east-1:123456789012:instance/i/queue/agent/a",
		"arn:aws-us-gov:connect:us-gov-west-1:123456789012:instance/i/queue/agent",
		"arn:aws:connect:::instance//queue/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, ok := arn.ParseQueue(s)
		if !ok {
			if q != (arn.Queue{}) {
				t.Fatalf("ParseQueue(%q) = %+v, false", s, q)
			}
			return
		}
		res := "instance/" + q.Instance + "/queue/" + q.Queue
		if q.Agent != "" {
			res = "instance/" + q.Instance + "/queue/agent/" + q.Agent
		}
		if (q.Queue == "") == (q.Agent == "") || q.Queue == "agent" || !strings.HasSuffix(s, ":"+res) ||
			!arn.IsResourceID(q.Instance) || !arn.IsResourceID(q.Queue+q.Agent) {
			t.Fatalf("ParseQueue(%q) = %+v", s, q)
		}
		c, ok := arn.ParseConnect(s)
		if !ok || c.Instance != q.Instance || "arn:"+c.Partition+":connect:"+c.Region+":"+c.Account+":"+res != s {
			t.Fatalf("ParseConnect(%q) = %+v, %v after ParseQueue = %+v", s, c, ok, q)
		}
		if _, ok := arn.ParseInstance(s); ok {
			t.Fatalf("ParseInstance accepts queue ARN %q", s)
		}
	})
}
