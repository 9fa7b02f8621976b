package web

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	template "github.com/DataDog/datadog-agent/pkg/template/html"

	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// formatDuration shows a length in milliseconds as m:ss (h:mm:ss past an
// hour).
func formatDuration(ms int64) string {
	if ms < 0 {
		ms = 0
	}
	s := (ms + 500) / 1000
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// formatClock shows a position in the recording, in milliseconds, as
// m:ss, rounded down as players do.
// formatSeconds shows milliseconds as seconds for the player: 1.500.
func formatSeconds(ms int64) string { return strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64) }

func formatClock(ms int64) string {
	if ms < 0 {
		ms = 0
	}
	s := ms / 1000
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// telURL returns a tel: link to number, or "" when it does not look like
// a phone number (html/template would refuse the scheme otherwise).
func telURL(number string) template.URL {
	n := strings.TrimSpace(number)
	digits := strings.TrimPrefix(n, "+")
	if len(digits) < 3 || len(digits) > 20 {
		return ""
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return ""
		}
	}
	return template.URL("tel:" + n)
}

// queueLabel names a voicemail's queue: the name routing found, else the
// queue's ID from its ARN.
func queueLabel(rec *voicemail.Record) string {
	if rec.Route.QueueName != "" {
		return rec.Route.QueueName
	}
	arn := rec.Route.QueueARN
	if arn == "" {
		arn = rec.QueueARN
	}
	return queueID(arn)
}

func queueID(arn string) string {
	if i := strings.LastIndex(arn, "/queue/"); i >= 0 {
		return arn[i+len("/queue/"):]
	}
	return arn
}

// agentLabel names the agent a voicemail is for; "" when it is for a
// queue.
func agentLabel(rec *voicemail.Record) string {
	switch {
	case rec.Route.AgentName != "":
		return rec.Route.AgentName
	case rec.Route.AgentUsername != "":
		return rec.Route.AgentUsername
	case rec.Route.AgentID != "":
		return rec.Route.AgentID
	}
	return rec.AgentID
}

// statusLabel is the one word the list shows for a voicemail: its inbox
// state, or else where the pipeline has it.
func statusLabel(it *store.InboxItem) string {
	switch {
	case it.Voicemail.Status == voicemail.StatusFailed:
		return "Failed"
	case it.State == store.InboxHandled:
		return "Handled"
	case it.State == store.InboxNew:
		return "New"
	case it.Voicemail.Status == voicemail.StatusQueued:
		return "Processing"
	case it.Voicemail.Status == voicemail.StatusEmpty || it.Voicemail.Empty:
		return "Empty"
	}
	return "Delivered"
}

// snippet shortens text to about n characters, at a word boundary.
func snippet(text string, n int) string {
	text = strings.Join(strings.Fields(text), " ")
	if utf8.RuneCountInString(text) <= n {
		return text
	}
	r := []rune(text)[:n]
	cut := string(r)
	if i := strings.LastIndexByte(cut, ' '); i > n/2 {
		cut = cut[:i]
	}
	return cut + "…"
}
