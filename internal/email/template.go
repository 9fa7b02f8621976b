package email

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	htmltemplate "github.com/DataDog/datadog-agent/pkg/template/html"
	texttemplate "github.com/DataDog/datadog-agent/pkg/template/text"

	"github.com/vmx-dev/vmx/internal/voicemail"
)

//go:embed templates/*.tmpl
var builtin embed.FS

// Data is what templates render. Strings are plain text: the HTML
// template escapes them.
type Data struct {
	ContactID  string
	InstanceID string
	// Caller is the number that called, E.164.
	Caller string
	// Callback is a callback number the caller said, as digits; empty when
	// none was heard.
	Callback string
	// Queue is the queue's name, QueueARN its ARN.
	Queue    string
	QueueARN string
	// Agent is the agent's name (or username) when the voicemail is for
	// one agent; ForAgent says whether it is.
	Agent         string
	AgentUsername string
	ForAgent      bool
	// Received is the call time for people, in the contact centre's time
	// zone, e.g. "Fri, Sep 12, 2025 at 11:07 AM EDT"; ReceivedAt is the
	// same time for templates that format it themselves, with the format
	// function: {{format .ReceivedAt "2006-01-02 15:04 MST"}}.
	Received   string
	ReceivedAt time.Time
	// Duration is the recording's length for people, e.g. "1 min 05 s".
	Duration   string
	DurationMS int64
	// Empty is set when the caller said nothing.
	Empty      bool
	Transcript string
	// Summary is a generated summary of the transcript; empty when off.
	Summary  string
	Language string
	// Link is the playback link; empty when links are off or there is
	// none.
	Link string
	// Attachment is the attached WAV's file name and AttachmentSize its
	// size for people; both empty when nothing is attached.
	Attachment     string
	AttachmentSize string
	// RecordingNote says why the recording is not attached, when the
	// policy attaches it but could not (too large, not available).
	RecordingNote string
	// Warnings are problems that did not stop delivery.
	Warnings []string
	// Attributes are all the contact's attributes.
	Attributes map[string]string
}

// ReceivedLayout is how Data.Received shows the call time.
const ReceivedLayout = "Mon, Jan 2, 2006 at 3:04 PM MST"

func (s *Sink) data(d *voicemail.Delivery, rec *recording) Data {
	r := &d.Record
	at := d.ReceivedAt
	if at.IsZero() {
		at = r.CallTime.UTC()
	}
	data := Data{
		ContactID:     r.ContactID,
		InstanceID:    r.InstanceID,
		Caller:        r.Caller,
		Callback:      r.SpokenNumber,
		Queue:         r.Route.QueueName,
		QueueARN:      r.Route.QueueARN,
		AgentUsername: r.Route.AgentUsername,
		ForAgent:      r.Route.AgentID != "" || r.Target == "agent",
		ReceivedAt:    at,
		DurationMS:    r.DurationMS,
		Duration:      humanDuration(r.DurationMS),
		Empty:         r.Empty,
		Transcript:    strings.TrimSpace(r.Transcript),
		Summary:       strings.TrimSpace(r.Summary),
		Language:      r.Language,
		RecordingNote: rec.note,
		Warnings:      r.Warnings,
		Attributes:    r.Attributes,
	}
	if data.QueueARN == "" {
		data.QueueARN = r.QueueARN
	}
	if !at.IsZero() {
		data.Received = at.Format(ReceivedLayout)
	}
	if data.ForAgent {
		data.Agent = r.Route.AgentName
		if data.Agent == "" {
			data.Agent = r.Route.AgentUsername
		}
	}
	// A recording too large to attach is linked whatever the policy.
	if s.cfg.Attach != AttachFile || rec.path == "" {
		data.Link = d.MediaURL
	}
	if rec.path != "" {
		data.Attachment, data.AttachmentSize = rec.name, humanBytes(rec.size)
	}
	if data.Link == "" && data.Attachment == "" && data.RecordingNote == "" {
		data.RecordingNote = "No link to the recording is available."
	}
	return data
}

func humanDuration(ms int64) string {
	d := (time.Duration(ms) * time.Millisecond).Round(time.Second)
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%d h %02d min %02d s", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%d min %02d s", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%d s", int(d.Seconds()))
}

// Template file kinds: <name>.<kind>.tmpl.
var kinds = []string{"subject", "txt", "html"}

// templateSet is one named template.
type templateSet struct {
	name    string
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// maxSubject bounds the subject, in characters, so that a template that
// puts the transcript there still makes a valid header.
const maxSubject = 200

// render executes the set; the subject is folded onto one line.
func (t *templateSet) render(d Data) (subject, text, html string, err error) {
	var b bytes.Buffer
	if err := t.subject.Execute(&b, d); err != nil {
		return "", "", "", err
	}
	subject = subjectLine(b.String())
	b.Reset()
	if err := t.text.Execute(&b, d); err != nil {
		return "", "", "", err
	}
	text = b.String()
	b.Reset()
	if err := t.html.Execute(&b, d); err != nil {
		return "", "", "", err
	}
	return subject, text, b.String(), nil
}

// subjectLine folds s onto one line of at most maxSubject characters.
func subjectLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > maxSubject {
		s = string([]rune(s)[:maxSubject-1]) + "…"
	}
	return s
}

// loadTemplates returns the built-in template and those in dir (may be
// empty), each parsed and test-rendered. A file a template lacks comes
// from the built-in template.
func loadTemplates(dir string) (map[string]*templateSet, error) {
	src, err := readTemplates(builtin, "templates")
	if err != nil {
		return nil, fmt.Errorf("email: built-in templates: %w", err)
	}
	defaults, where := src[DefaultTemplate], "built-in templates"
	files := map[string]map[string]string{}
	if dir != "" {
		where = "templates in " + dir
		if files, err = readTemplates(os.DirFS(dir), "."); err != nil {
			return nil, fmt.Errorf("email: %s: %w", where, err)
		}
	}
	if files[DefaultTemplate] == nil {
		files[DefaultTemplate] = map[string]string{}
	}
	sets := map[string]*templateSet{}
	var errs []error
	for name, src := range files {
		for _, k := range kinds {
			if _, ok := src[k]; !ok {
				src[k] = defaults[k]
			}
		}
		set, err := parseSet(name, src)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sets[name] = set
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return nil, fmt.Errorf("email: %s: %w", where, errors.Join(errs...))
	}
	return sets, nil
}

// readTemplates reads the template files in root: name → kind → source.
// Files not ending in .tmpl are ignored; every problem is reported.
func readTemplates(fsys fs.FS, root string) (map[string]map[string]string, error) {
	entries, err := fs.ReadDir(fsys, root)
	if err != nil {
		return nil, err
	}
	files := map[string]map[string]string{}
	var errs []error
	for _, e := range entries {
		fname := e.Name()
		if e.IsDir() || !strings.HasSuffix(fname, ".tmpl") {
			continue
		}
		name, kind, ok := strings.Cut(strings.TrimSuffix(fname, ".tmpl"), ".")
		if !ok || !slices.Contains(kinds, kind) {
			errs = append(errs, fmt.Errorf("%s: want <name>.subject.tmpl, <name>.txt.tmpl or <name>.html.tmpl", fname))
			continue
		}
		if !validTemplateName(name) {
			errs = append(errs, fmt.Errorf("%s: %q is not a template name (letters, digits, - and _)", fname, name))
			continue
		}
		b, err := fs.ReadFile(fsys, path.Join(root, fname))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if files[name] == nil {
			files[name] = map[string]string{}
		}
		files[name][kind] = string(b)
	}
	return files, errors.Join(errs...)
}

// templateFuncs are the functions templates may call. Templates read
// fields, not methods: the template engine is text/template without method
// calls, which would keep every method of every type in the binary.
var templateFuncs = texttemplate.FuncMap{
	"format": func(t time.Time, layout string) string { return t.Format(layout) },
}

// parseSet parses a template's three sources and renders them with sample
// data, so that a reference to a field Data lacks fails here.
func parseSet(name string, src map[string]string) (*templateSet, error) {
	set := &templateSet{name: name}
	var err error
	if set.subject, err = texttemplate.New(name + ".subject.tmpl").Funcs(templateFuncs).Parse(src["subject"]); err != nil {
		return nil, err
	}
	if set.text, err = texttemplate.New(name + ".txt.tmpl").Funcs(templateFuncs).Parse(src["txt"]); err != nil {
		return nil, err
	}
	if set.html, err = htmltemplate.New(name + ".html.tmpl").Funcs(templateFuncs).Parse(src["html"]); err != nil {
		return nil, err
	}
	for _, d := range sampleData() {
		if _, _, _, err := set.render(d); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// sampleData are the extremes a template must render: everything set,
// and nothing set.
func sampleData() []Data {
	at := time.Date(2025, 9, 12, 11, 7, 0, 0, time.UTC)
	return []Data{{
		ContactID: "8f0c2d3e-5b1a-4c7e-9d21-3a7c1e6f0b42", InstanceID: "11111111-2222-3333-4444-555555555555",
		Caller: "+15555550100", Callback: "5555550101", Queue: "Support",
		QueueARN: "arn:aws:connect:us-east-1:123456789012:instance/i/queue/q", Agent: "Jane Roe",
		AgentUsername: "jroe", ForAgent: true, Received: at.Format(ReceivedLayout), ReceivedAt: at,
		Duration: humanDuration(65000), DurationMS: 65000, Transcript: "Hi, please call me back.",
		Summary: "The caller asks for a call back.", Language: "en-US",
		Link: "https://vmx.example.com/v1/media/x", Attachment: "voicemail-x.wav", AttachmentSize: "1 MB",
		RecordingNote: "note", Warnings: []string{"warning"}, Attributes: map[string]string{"vmx3_flag": "1"},
	}, {}}
}

// missingTemplate explains that a template is not there.
func missingTemplate(dir string, sets map[string]*templateSet) string {
	names := make([]string, 0, len(sets))
	for n := range sets {
		names = append(names, n)
	}
	slices.Sort(names)
	where := "no template directory is configured"
	if dir != "" {
		where = "no such template in " + filepath.Clean(dir)
	}
	return fmt.Sprintf("%s (templates: %s)", where, strings.Join(names, ", "))
}
