// Package email delivers voicemails as e-mail: a multipart/alternative
// text and HTML message rendered from templates, with the WAV attached,
// linked, or both, sent through SMTP or Amazon SES.
//
// # Addresses
//
// The sender is the contact's "<prefix>email_from" attribute, else the
// VMX2-era "email_from", else Config.From. The recipients are, in order
// of precedence: the "<prefix>email_to" attribute (or "email_to"), a
// comma-separated list; the agent's e-mail address when the voicemail is
// for an agent and Amazon Connect gave one; the queue's address (its
// vmx3_queue_email tag or QVMB:: description marker); Config.To. Unlike
// Voicemail Express, the attribute really overrides the computed address.
// Every address is parsed strictly, and one that does not parse, or a
// recipient outside Config.AllowedDomains, fails the delivery permanently
// with an error that names the attribute and the value.
//
// # Templates
//
// A template is three files in Config.TemplateDir: <name>.subject.tmpl
// and <name>.txt.tmpl (text/template) and <name>.html.tmpl
// (html/template, so every value is escaped). A file a template lacks is
// taken from the built-in "voicemail" template. All templates are loaded
// and test-rendered when the sink is made, so a broken template stops vmx
// at start-up instead of failing voicemails. The contact's
// "<prefix>email_template" attribute (or "email_template") names the
// template for one voicemail; a name that is not a template is a
// permanent error, never a silent fallback: the contact centre asked for
// something vmx does not have, and a mail in the wrong template (or
// language) is worse than a failed delivery that names the problem and
// can be replayed after the template is added. Templates get a [Data].
//
// # Idempotency
//
// The Message-ID is derived from the delivery key, so a retried delivery
// that is sent twice carries the same Message-ID and receivers can drop
// or thread the repeat. Amazon SES replaces the Message-ID with its own;
// the receipt then also names the SES message ID.
package email

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// Attachment policies of [Config].Attach.
const (
	AttachFile = "attach" // attach the WAV; link to it only when it is too large
	AttachLink = "link"   // link to the recording, never attach it
	AttachBoth = "both"   // attach the WAV and link to it
)

// Defaults and limits of [Config].
const (
	DefaultTemplate           = "voicemail"
	DefaultAttach             = AttachBoth
	DefaultMaxAttachmentBytes = 10 << 20
	// MaxAttachmentBytesLimit keeps a message under Amazon SES's 40 MB
	// limit once the attachment is base64 encoded.
	MaxAttachmentBytesLimit = 28 << 20
	// MaxRecipients is Amazon SES's limit of recipients per message.
	MaxRecipients = 50
)

// Header names vmx adds to every message.
const (
	HeaderContactID = "X-VMX-Contact-Id"
	HeaderDelivery  = "X-VMX-Delivery"
)

// Config is the e-mail destination.
type Config struct {
	// From is the sender of a voicemail without an email_from attribute,
	// e.g. "Voicemail <voicemail@example.com>". Required.
	From string
	// To are the recipients of a voicemail that has no email_to
	// attribute, no agent address and no queue address. Each entry may be
	// a comma-separated list. Empty means such a voicemail fails.
	To []string
	// AllowedDomains, when set, are the only recipient domains: e.g.
	// "example.com", or "*.example.com" for its subdomains. A recipient
	// elsewhere fails the delivery permanently.
	AllowedDomains []string
	// MessageIDDomain is the right-hand side of the Message-ID. Empty
	// means "vmx." and the domain of From.
	MessageIDDomain string
	// TemplateDir holds operator templates. Empty means the built-in
	// template only.
	TemplateDir string
	// Template is the template of a voicemail without an email_template
	// attribute. Empty means DefaultTemplate.
	Template string
	// Attach is AttachFile, AttachLink or AttachBoth. Empty means
	// DefaultAttach.
	Attach string
	// MaxAttachmentBytes is the largest WAV attached; a larger one is
	// linked and the mail says so. 0 means DefaultMaxAttachmentBytes; at
	// most MaxAttachmentBytesLimit.
	MaxAttachmentBytes int64
	// TempDir holds a recording while it is attached; default
	// os.TempDir(). vmx serve uses <data_dir>/tmp, which it clears of
	// what a killed process left there.
	TempDir string
}

func (c Config) withDefaults() Config {
	if c.Template == "" {
		c.Template = DefaultTemplate
	}
	if c.Attach == "" {
		c.Attach = DefaultAttach
	}
	if c.MaxAttachmentBytes == 0 {
		c.MaxAttachmentBytes = DefaultMaxAttachmentBytes
	}
	if c.MessageIDDomain == "" {
		if from, err := mail.ParseAddress(c.From); err == nil {
			c.MessageIDDomain = "vmx." + domainOf(from.Address)
		}
	}
	return c
}

var (
	templateNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
	localPart      = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
)

// validTemplateName accepts 1 to 64 letters, digits, '_' and '-', starting
// with a letter or digit. (Lengths are checked apart from patterns: a
// counted repetition compiles to that many copies of its class at every
// start of the binary.)
func validTemplateName(s string) bool { return len(s) <= 64 && templateNameRE.MatchString(s) }

// validDomain accepts a host name: dot-separated labels of 1 to 63 ASCII
// letters, digits and '-', not starting or ending with '-'.
func validDomain(s string) bool {
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Validate checks the configuration and returns every problem found;
// empty fields are valid where they have defaults. The template directory
// is read by New.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("email: config: "+format, args...))
	}
	allowed := make([]string, 0, len(c.AllowedDomains))
	for i, d := range c.AllowedDomains {
		if !validDomain(strings.TrimPrefix(d, "*.")) {
			bad("allowed_domains[%d] %q is not a domain name like example.com or *.example.com", i, d)
			continue
		}
		allowed = append(allowed, d)
	}
	if c.From == "" {
		bad("from must be set, e.g. \"Voicemail <voicemail@example.com>\"")
	} else if _, err := parseAddr(c.From); err != nil {
		bad("from %q is not an e-mail address: %v", c.From, err)
	}
	for i, to := range c.To {
		addrs, err := parseList(to)
		if err != nil {
			bad("to[%d] %q is not an e-mail address list: %v", i, to, err)
			continue
		}
		for _, a := range addrs {
			if !domainAllowed(allowed, a.Address) {
				bad("to[%d] %q is outside allowed_domains %v", i, a.Address, c.AllowedDomains)
			}
		}
	}
	if c.MessageIDDomain != "" && !validDomain(c.MessageIDDomain) {
		bad("message_id_domain %q is not a domain name", c.MessageIDDomain)
	}
	if c.Template != "" && !validTemplateName(c.Template) {
		bad("template %q is not a template name (letters, digits, - and _)", c.Template)
	}
	switch c.Attach {
	case "", AttachFile, AttachLink, AttachBoth:
	default:
		bad("attach %q must be %q, %q or %q", c.Attach, AttachFile, AttachLink, AttachBoth)
	}
	if c.MaxAttachmentBytes < 0 || c.MaxAttachmentBytes > MaxAttachmentBytesLimit {
		bad("max_attachment_bytes %d must be between 1 and %d (0 means %d)",
			c.MaxAttachmentBytes, MaxAttachmentBytesLimit, DefaultMaxAttachmentBytes)
	}
	return errors.Join(errs...)
}

// Sender sends one message: from and to are the envelope's bare
// addresses, msg writes the whole message (headers and body). It returns
// what identifies the message at the transport, as key=value (the SES
// message ID, the SMTP server's reply), or "". Errors that
// retrying cannot fix are marked with retry.Permanent, requests to slow
// down with retry.After. msg may be written more than once.
type Sender interface {
	Send(ctx context.Context, from string, to []string, msg io.WriterTo) (id string, err error)
}

// Sink delivers voicemails by e-mail. It is safe for concurrent use.
type Sink struct {
	cfg       Config
	allowed   []string
	from      *mail.Address
	to        []*mail.Address
	templates map[string]*templateSet
	sender    Sender
	log       *slog.Logger
	now       func() time.Time
}

// New returns a sink for cfg that sends through sender; it loads and
// test-renders the templates. log nil means no logging.
func New(cfg Config, sender Sender, log *slog.Logger) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sender == nil {
		return nil, errors.New("email: no sender")
	}
	cfg = cfg.withDefaults()
	templates, err := loadTemplates(cfg.TemplateDir)
	if err != nil {
		return nil, err
	}
	if _, ok := templates[cfg.Template]; !ok {
		return nil, fmt.Errorf("email: config: template %q: %s", cfg.Template, missingTemplate(cfg.TemplateDir, templates))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	from, _ := parseAddr(cfg.From)
	s := &Sink{cfg: cfg, from: from, templates: templates, sender: sender, log: log, now: time.Now}
	for _, d := range cfg.AllowedDomains {
		s.allowed = append(s.allowed, strings.ToLower(d))
	}
	for _, to := range cfg.To {
		addrs, _ := parseList(to)
		s.to = append(s.to, addrs...)
	}
	return s, nil
}

// Deliver sends the voicemail and returns its Message-ID as the receipt's
// detail, followed by what the transport said of it
// (`<…@vmx.example.com> ses-message-id=…` or `… smtp-reply="250 …"`).
// Bad addresses, unknown
// templates and messages the server refuses for good (SMTP 5xx, SES
// MessageRejected) are permanent errors; the rest may be retried.
func (s *Sink) Deliver(ctx context.Context, d *voicemail.Delivery, key string) (string, error) {
	if key == "" {
		return "", retry.Permanent(errors.New("email: empty delivery key"))
	}
	r := &d.Record
	from, to, err := s.envelope(r)
	if err != nil {
		return "", retry.Permanent(err)
	}
	tpl, err := s.template(r)
	if err != nil {
		return "", retry.Permanent(err)
	}
	rec, err := s.recording(ctx, d)
	if err != nil {
		return "", err
	}
	defer rec.remove()
	data := s.data(d, rec)
	subject, text, html, err := tpl.render(data)
	if err != nil {
		return "", retry.Permanent(fmt.Errorf("email: template %q: %w", tpl.name, err))
	}
	id := MessageID(key, s.cfg.MessageIDDomain)
	msg := &message{
		header: []field{
			{"Date", s.now().Format(time.RFC1123Z)},
			{"From", from.String()},
			{"To", joinAddrs(to)},
			{"Subject", encodeHeader(subject)},
			{"Message-ID", id},
			{"MIME-Version", "1.0"},
			{"Auto-Submitted", "auto-generated"}, // RFC 3834: no vacation replies
			{HeaderContactID, headerSafe(r.ContactID)},
			{HeaderDelivery, headerSafe(key)},
		},
		text: text,
		html: html,
	}
	if rec.path != "" {
		msg.attachment = &attachment{name: rec.name, path: rec.path}
	}
	rcpts := make([]string, len(to))
	for i, a := range to {
		rcpts[i] = a.Address
	}
	tid, err := s.sender.Send(ctx, from.Address, rcpts, msg)
	if err != nil {
		return "", fmt.Errorf("email: send to %s: %w", strings.Join(rcpts, ", "), err)
	}
	s.log.DebugContext(ctx, "e-mail sent", "contact_id", r.ContactID, "message_id", id,
		"transport_id", tid, "template", tpl.name, "attached", rec.path != "")
	if tid != "" {
		return id + " " + tid, nil
	}
	return id, nil
}

// MessageID returns the Message-ID of the delivery with key: the same key
// always gives the same ID.
func MessageID(key, domain string) string {
	sum := sha256.Sum256([]byte(key))
	return "<" + hex.EncodeToString(sum[:])[:32] + "@" + domain + ">"
}

// attr returns the first non-empty attribute among "<prefix>email_<name>"
// and the VMX2-era "email_<name>", and the attribute's name.
func attr(r *voicemail.Record, name string) (value, key string) {
	keys := []string{"email_" + name}
	if r.Prefix != "" {
		keys = []string{r.Prefix + "email_" + name, "email_" + name}
	}
	for _, k := range keys {
		if v := strings.TrimSpace(r.Attributes[k]); v != "" {
			return v, k
		}
	}
	return "", ""
}

// envelope resolves the sender and recipients (see the package doc).
func (s *Sink) envelope(r *voicemail.Record) (*mail.Address, []*mail.Address, error) {
	from := s.from
	if v, k := attr(r, "from"); v != "" {
		a, err := parseAddr(v)
		if err != nil {
			return nil, nil, fmt.Errorf("email: attribute %s %q is not an e-mail address: %v", k, v, err)
		}
		from = a
	}
	var (
		to     []*mail.Address
		source string
		value  string
	)
	switch v, k := attr(r, "to"); {
	case v != "":
		source, value = "attribute "+k, v
	case r.Route.AgentEmail != "":
		source, value = "agent e-mail", r.Route.AgentEmail
	case r.Route.QueueEmail != "":
		source, value = "queue e-mail", r.Route.QueueEmail
	case len(s.to) > 0:
		to, source = s.to, "config to"
	default:
		return nil, nil, fmt.Errorf("email: no recipient: the contact has no %semail_to attribute, the queue and agent no e-mail address, and no default recipient is configured", r.Prefix)
	}
	if value != "" {
		var err error
		if to, err = parseList(value); err != nil {
			return nil, nil, fmt.Errorf("email: %s %q is not an e-mail address list: %v", source, value, err)
		}
	}
	if len(to) > MaxRecipients {
		return nil, nil, fmt.Errorf("email: %s has %d recipients, more than %d", source, len(to), MaxRecipients)
	}
	for _, a := range to {
		if !domainAllowed(s.allowed, a.Address) {
			return nil, nil, fmt.Errorf("email: recipient %q (from %s) is outside the allowed domains %v", a.Address, source, s.cfg.AllowedDomains)
		}
	}
	return from, to, nil
}

// parseAddr parses one address, "name <addr>" or "addr", strictly: see
// checkAddr.
func parseAddr(s string) (*mail.Address, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, err
	}
	return a, checkAddr(a.Address)
}

// parseList parses a comma-separated address list strictly and drops
// repeats.
func parseList(s string) ([]*mail.Address, error) {
	addrs, err := mail.ParseAddressList(s)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	out := addrs[:0]
	for _, a := range addrs {
		if err := checkAddr(a.Address); err != nil {
			return nil, err
		}
		k := strings.ToLower(a.Address)
		if !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	return out, nil
}

// checkAddr accepts the addresses every SMTP server and Amazon SES take:
// an ASCII dot-atom local part (no quoted strings, no spaces) at a host
// name. net/mail alone also accepts quoted local parts and domain
// literals, which do not survive the SMTP envelope.
func checkAddr(addr string) error {
	i := strings.LastIndexByte(addr, '@')
	local, domain := addr[:i], addr[i+1:]
	switch {
	case len(local) > 64 || !localPart.MatchString(local):
		return fmt.Errorf("%q: the part before @ must be plain ASCII without spaces or quotes", addr)
	case len(domain) > 253 || !validDomain(domain):
		return fmt.Errorf("%q: %q is not a host name", addr, domain)
	}
	return nil
}

func domainOf(addr string) string {
	return strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
}

// domainAllowed reports whether addr's domain is in allowed (lower case);
// an empty list allows every domain.
func domainAllowed(allowed []string, addr string) bool {
	if len(allowed) == 0 {
		return true
	}
	d := domainOf(addr)
	for _, a := range allowed {
		a = strings.ToLower(a)
		if sub, ok := strings.CutPrefix(a, "*."); ok {
			if strings.HasSuffix(d, "."+sub) {
				return true
			}
		} else if d == a {
			return true
		}
	}
	return false
}

func (s *Sink) template(r *voicemail.Record) (*templateSet, error) {
	name, k := attr(r, "template")
	if name == "" {
		return s.templates[s.cfg.Template], nil
	}
	if !validTemplateName(name) {
		return nil, fmt.Errorf("email: attribute %s %q is not a template name (letters, digits, - and _)", k, name)
	}
	t, ok := s.templates[name]
	if !ok {
		return nil, fmt.Errorf("email: attribute %s names template %q: %s", k, name, missingTemplate(s.cfg.TemplateDir, s.templates))
	}
	return t, nil
}

// recording is the WAV as the message carries it: spooled to a temporary
// file when attached, so that it is streamed into the message and never
// held in memory whole.
type recording struct {
	name string // attachment file name
	path string // temporary file; empty when not attached
	size int64
	note string // why it is not attached, for the reader
}

func (r *recording) remove() {
	if r.path != "" {
		_ = os.Remove(r.path)
	}
}

// recording spools the WAV when the policy attaches it and it fits.
func (s *Sink) recording(ctx context.Context, d *voicemail.Delivery) (*recording, error) {
	rec := &recording{name: "voicemail-" + fileSafe(d.Record.ContactID) + ".wav"}
	if s.cfg.Attach == AttachLink {
		return rec, nil
	}
	if d.OpenAudio == nil {
		rec.note = "The recording is not available to attach."
		return rec, nil
	}
	src, err := d.OpenAudio(ctx)
	if err != nil {
		return nil, fmt.Errorf("email: open recording: %w", err)
	}
	defer src.Close()
	f, err := os.CreateTemp(s.cfg.TempDir, "vmx-email-*.wav")
	if err != nil {
		return nil, fmt.Errorf("email: spool recording: %w", err)
	}
	rec.path = f.Name()
	n, err := io.Copy(f, io.LimitReader(src, s.cfg.MaxAttachmentBytes+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		rec.remove()
		return nil, fmt.Errorf("email: spool recording: %w", err)
	}
	if n > s.cfg.MaxAttachmentBytes {
		rec.remove()
		rec.path = ""
		rec.note = fmt.Sprintf("The recording is larger than the %s attachment limit, so it is not attached.", humanBytes(s.cfg.MaxAttachmentBytes))
		s.log.InfoContext(ctx, "recording too large to attach", "contact_id", d.Record.ContactID, "limit_bytes", s.cfg.MaxAttachmentBytes)
		return rec, nil
	}
	rec.size = n
	return rec, nil
}

// fileSafe keeps the characters of s that are safe in a file name.
func fileSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return -1
	}, s)
	if s == "" {
		return "recording"
	}
	return s
}

// headerSafe keeps the printable ASCII of s, for headers that carry IDs.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < '!' || r > '~' {
			return -1
		}
		return r
	}, s)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(1<<20))) + " MB"
	case n >= 1<<10:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(1<<10))) + " KB"
	}
	return fmt.Sprintf("%d bytes", n)
}

func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }

var _ interface {
	Deliver(context.Context, *voicemail.Delivery, string) (string, error)
} = (*Sink)(nil)
