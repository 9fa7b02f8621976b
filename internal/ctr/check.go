package ctr

import (
	"strings"
)

// Hand-written checks of the shapes of attribute values and ARNs.

// isE164 reports whether s is a phone number in E.164 form:
// ^\+[1-9][0-9]{6,14}$. It checks the shape only, so fictional numbers such
// as +15555551212 pass.
func isE164(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9' {
		return false
	}
	return allDigits(s[2:])
}

// connectARN holds the parts of an Amazon Connect queue or instance ARN.
type connectARN struct {
	instance string
	queue    string // empty for an instance ARN
	agent    string // an agent's personal queue: …/queue/agent/<agentId>
}

// parseConnectARN parses
//
//	arn:<partition>:connect:<region>:<account>:instance/<instanceId>
//	arn:<partition>:connect:<region>:<account>:instance/<instanceId>/queue/<queueId>
//	arn:<partition>:connect:<region>:<account>:instance/<instanceId>/queue/agent/<agentId>
func parseConnectARN(s string) (connectARN, bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !isPartition(parts[1]) || parts[2] != "connect" ||
		!isRegion(parts[3]) || len(parts[4]) != 12 || !allDigits(parts[4]) {
		return connectARN{}, false
	}
	res := strings.Split(parts[5], "/")
	if len(res) < 2 || res[0] != "instance" || !isID(res[1]) {
		return connectARN{}, false
	}
	a := connectARN{instance: res[1]}
	switch {
	case len(res) == 2:
		return a, true
	case len(res) == 4 && res[2] == "queue" && res[3] != "agent" && isID(res[3]):
		a.queue = res[3]
		return a, true
	case len(res) == 5 && res[2] == "queue" && res[3] == "agent" && isID(res[4]):
		a.queue = "agent/" + res[4]
		a.agent = res[4]
		return a, true
	}
	return connectARN{}, false
}

// parseQueueARN parses the ARN of a queue or of an agent's personal queue.
func parseQueueARN(s string) (connectARN, bool) {
	a, ok := parseConnectARN(s)
	return a, ok && a.queue != ""
}

// parseInstanceARN parses the ARN of an Amazon Connect instance.
func parseInstanceARN(s string) (string, bool) {
	a, ok := parseConnectARN(s)
	if !ok || a.queue != "" {
		return "", false
	}
	return a.instance, true
}

// isStreamARN reports whether s looks like a Kinesis video stream ARN,
// arn:<partition>:kinesisvideo:<region>:<account>:stream/<name>/<creation
// time>.
func isStreamARN(s string) bool {
	parts := strings.SplitN(s, ":", 6)
	return len(parts) == 6 && parts[0] == "arn" && isPartition(parts[1]) && parts[2] == "kinesisvideo" &&
		isRegion(parts[3]) && len(parts[4]) == 12 && allDigits(parts[4]) &&
		strings.HasPrefix(parts[5], "stream/") && len(parts[5]) > len("stream/")
}

// isPartition accepts aws and aws-<suffix>: aws-cn, aws-us-gov, aws-iso-b…
func isPartition(s string) bool {
	if s == "aws" {
		return true
	}
	rest, ok := strings.CutPrefix(s, "aws-")
	return ok && rest != "" && isLowerDash(rest)
}

// isRegion accepts names such as us-east-1 and us-gov-west-1.
func isRegion(s string) bool {
	return strings.Contains(s, "-") && isLowerDash(s)
}

func isLowerDash(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// isID accepts an Amazon Connect resource ID: a UUID in practice; any 1 to
// 256 letters, digits, '-' and '_' here.
func isID(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// normLanguage checks the shape of an Amazon Transcribe language code, two or
// three letters, '-', two letters (en-US, es-US, zh-CN, en-AB, haw-US), and
// returns it in canonical case.
func normLanguage(s string) (string, bool) {
	lang, region, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok || len(lang) < 2 || len(lang) > 3 || len(region) != 2 || !allLetters(lang) || !allLetters(region) {
		return "", false
	}
	return strings.ToLower(lang) + "-" + strings.ToUpper(region), true
}

// normMode checks a delivery mode, or a comma-separated list of them, and
// returns it with the space around each entry removed. Mode names are for
// the delivery layer to check.
func normMode(s string) (string, string, bool) {
	if strings.TrimSpace(s) == "" {
		return "", "is empty", false
	}
	entries := strings.Split(s, ",")
	for i, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			return "", "has an empty entry", false
		}
		entries[i] = e
	}
	return strings.Join(entries, ","), "", true
}

// isFragmentNumber reports whether s is a KVS fragment number: 1 to 128
// decimal digits.
func isFragmentNumber(s string) bool {
	return s != "" && len(s) <= 128 && allDigits(s)
}

// compareFragments compares two fragment numbers as integers.
func compareFragments(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func allLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return s != ""
}
