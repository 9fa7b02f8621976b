// Package salesforce delivers voicemails as Salesforce records: a Case
// (Voicemail Express 2's "sfcase" mode) or a record of a custom object
// ("sfother"), through the REST API with an OAuth 2.0 connected app.
//
// Exactly once: Salesforce has no idempotency key. With Config.DedupeField
// set, every record carries the delivery key in that field and the sink
// looks for it before creating, so a retry after a crash finds the record
// instead of making a second one. Make the field an External ID marked
// Unique (Text, 80): it is indexed, so the lookup stays fast, and two
// concurrent deliveries of the same key cannot both create. Without
// DedupeField, a crash between the create and the pipeline storing its
// receipt gives a duplicate record on retry.
//
// The owner of an agent voicemail is the active Salesforce user whose
// Alias (or Username, see Config.OwnerMatch) matches the Connect agent.
// When none or several match, the record keeps the default owner (the API
// user; assignment rules may route it) and the receipt's detail says why.
package salesforce

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"

	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// Defaults of Config.
const (
	DefaultAPIVersion = "v62.0"
	DefaultOrigin     = "Phone"
	DefaultTimeout    = 20 * time.Second
)

// ObjectCase is the standard object of the sfcase mode.
const ObjectCase = "Case"

// Owner matching, Config.OwnerMatch.
const (
	// OwnerAlias matches User.Alias with the part of the Connect username
	// Voicemail Express 2 took: before the "@" of jdoe@example.com, between
	// the two "@" of a username holding two.
	OwnerAlias = "alias"
	// OwnerUsername matches User.Username with the whole Connect username,
	// for orgs whose Connect users log in with their Salesforce username.
	OwnerUsername = "username"
	// OwnerNone never sets an owner.
	OwnerNone = "none"
)

// Unmapped, as a FieldMap value, turns off a default mapping of Case.
const Unmapped = "-"

// FieldMap names the Salesforce field (API name) each part of a voicemail
// goes into. An empty name leaves that part out, except that for Case the
// empty fields marked below get a default; Unmapped turns a default off.
type FieldMap struct {
	Subject     string // Case default "Subject"; "Name" on most custom objects
	Description string // the whole voicemail as text; Case default "Description"
	Priority    string // Case default "Priority"
	Origin      string // Case default "Origin"
	Phone       string // callback number; Case default "SuppliedPhone"
	Transcript  string // the transcript, after the summary when there is one
	Attributes  string // the contact's attributes as a JSON object
	// RecordingLink is the link to the recording: a URL field, or a rich
	// text area with Config.LinkHTML.
	RecordingLink string
	ContactID     string // the Amazon Connect contact id
}

// Config is one Salesforce org and object to deliver into. Credentials
// select the OAuth flow: ClientSecret the client credentials flow,
// Username with PrivateKeyPEM the JWT bearer flow.
type Config struct {
	// LoginURL is where tokens come from: https://login.salesforce.com,
	// https://test.salesforce.com for sandboxes, or the org's My Domain
	// (https://acme.my.salesforce.com), which the client credentials flow
	// requires.
	LoginURL string
	// APIVersion of the REST API, like "v62.0"; default DefaultAPIVersion.
	APIVersion string
	// ClientID is the connected app's consumer key.
	ClientID string
	// ClientSecret is the consumer secret (client credentials flow).
	ClientSecret string
	// Username is the user the JWT bearer flow acts as.
	Username string
	// PrivateKeyPEM is the unencrypted RSA key (PKCS#1 or PKCS#8 PEM)
	// whose certificate is uploaded to the connected app (JWT bearer flow).
	PrivateKeyPEM string
	// Audience is the JWT's aud; default LoginURL. Set it to
	// https://login.salesforce.com when LoginURL is a My Domain that
	// Salesforce does not accept as audience.
	Audience string

	// Object is the sObject API name: "Case" for sfcase, a custom object
	// such as "Voicemail__c" for sfother.
	Object string
	// Fields maps the voicemail onto the object. A custom object has no
	// defaults and must map Description or Transcript.
	Fields FieldMap
	// Static are field values set on every record: Status, RecordTypeId, Type…
	Static map[string]string
	// Origin is the value of the Origin field; default DefaultOrigin.
	Origin string
	// Priority is the priority of a voicemail without a "<prefix>priority"
	// attribute (vmx_priority in Voicemail Express 2, which required it);
	// empty leaves the field to Salesforce's picklist default.
	Priority string
	// OwnerMatch is how an agent voicemail's owner is found: OwnerAlias
	// (default), OwnerUsername or OwnerNone. A "<prefix>agent_alias"
	// attribute names a User.Alias directly, on any voicemail.
	OwnerMatch string
	// DedupeField is a text field, ideally an External ID marked Unique,
	// that holds the delivery key and makes delivery exactly once (see the
	// package documentation). Empty: no duplicate check.
	DedupeField string
	// MaxLengths are field lengths in characters, for custom fields; values
	// longer are cut. Lengths of standard Case fields are known.
	MaxLengths map[string]int
	// LinkHTML writes the recording link as an HTML anchor, for a rich text
	// area field, as Voicemail Express 2 did; default a plain URL.
	LinkHTML bool
	// Timeout bounds each HTTP request; default DefaultTimeout.
	Timeout time.Duration
}

var apiVersion = regexp.MustCompile(`^v[1-9][0-9]*\.[0-9]$`)

// Validate checks the configuration and returns every problem found.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf("salesforce: "+format, a...)) }

	if err := checkHTTPS(c.LoginURL); err != nil {
		add("login URL: %v", err)
	}
	if c.Audience != "" {
		if err := checkHTTPS(c.Audience); err != nil {
			add("audience: %v", err)
		}
	}
	if c.APIVersion != "" && !apiVersion.MatchString(c.APIVersion) {
		add("API version %q is not like %q", c.APIVersion, DefaultAPIVersion)
	}
	if c.ClientID == "" {
		add("client id (the connected app's consumer key) must be set")
	}
	jwt := c.Username != "" || c.PrivateKeyPEM != ""
	switch {
	case c.ClientSecret != "" && jwt:
		add("set either client secret (client credentials flow) or username and private key (JWT bearer flow), not both")
	case c.ClientSecret == "" && !jwt:
		add("credentials must be set: client secret (client credentials flow) or username and private key (JWT bearer flow)")
	case jwt && c.Username == "":
		add("JWT bearer flow: username must be set")
	case jwt && c.PrivateKeyPEM == "":
		add("JWT bearer flow: private key must be set")
	case jwt:
		if _, err := parseRSAKey(c.PrivateKeyPEM); err != nil {
			add("JWT bearer flow: private key: %v", err)
		}
	}

	if !validName(c.Object) {
		add("object %q is not a Salesforce API name like Case or Voicemail__c", c.Object)
	}
	c.Fields = c.fieldsWithDefaults()
	used := map[string]string{}
	use := func(what, field string) {
		if field == "" {
			return
		}
		if !validName(field) {
			add("%s field %q is not a Salesforce API name", what, field)
			return
		}
		if prev, ok := used[field]; ok {
			add("%s and %s both write field %s", prev, what, field)
			return
		}
		used[field] = what
	}
	for _, f := range c.Fields.list() {
		use(f.what, f.name)
	}
	use("dedupe", c.DedupeField)
	for k := range c.Static {
		use("static", k)
	}
	if _, ok := used["OwnerId"]; ok {
		add("field OwnerId is set by owner matching; map it nowhere else")
	}
	if c.Object != ObjectCase && c.Fields.Description == "" && c.Fields.Transcript == "" {
		add("custom object %s: fields must map description or transcript, or its records would not hold the voicemail", c.Object)
	}
	switch c.OwnerMatch {
	case "", OwnerAlias, OwnerUsername, OwnerNone:
	default:
		add("owner match %q must be %q, %q or %q", c.OwnerMatch, OwnerAlias, OwnerUsername, OwnerNone)
	}
	for k, n := range c.MaxLengths {
		if !validName(k) || n <= 0 {
			add("max length of %q: %d must be positive for a Salesforce API name", k, n)
		}
	}
	if c.Timeout < 0 {
		add("timeout %s must not be negative", c.Timeout)
	}
	return errors.Join(errs...)
}

func checkHTTPS(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return fmt.Errorf("%q must be an https URL without path, like https://login.salesforce.com", s)
	}
	return nil
}

type mappedField struct{ what, name string }

func (m FieldMap) list() []mappedField {
	return []mappedField{
		{"subject", m.Subject}, {"description", m.Description}, {"priority", m.Priority},
		{"origin", m.Origin}, {"phone", m.Phone}, {"transcript", m.Transcript},
		{"attributes", m.Attributes}, {"recording link", m.RecordingLink}, {"contact id", m.ContactID},
	}
}

// fieldsWithDefaults fills Case's default mapping and clears Unmapped.
func (c Config) fieldsWithDefaults() FieldMap {
	f := c.Fields
	def := func(p *string, name string) {
		if *p == "" && c.Object == ObjectCase {
			*p = name
		}
		if *p == Unmapped {
			*p = ""
		}
	}
	def(&f.Subject, "Subject")
	def(&f.Description, "Description")
	def(&f.Priority, "Priority")
	def(&f.Origin, "Origin")
	def(&f.Phone, "SuppliedPhone")
	def(&f.Transcript, "")
	def(&f.Attributes, "")
	def(&f.RecordingLink, "")
	def(&f.ContactID, "")
	return f
}

// knownLengths are the lengths of standard fields, by object.
var knownLengths = map[string]map[string]int{
	ObjectCase: {"Subject": 255, "Description": 32000, "SuppliedPhone": 40, "SuppliedName": 80,
		"SuppliedEmail": 80, "SuppliedCompany": 80},
}

// customNameLength is the length of a custom object's Name field.
const customNameLength = 80

// Sink creates one record per voicemail.
type Sink struct {
	cfg    Config
	rest   *rest
	limits map[string]int
	log    *slog.Logger
}

// New returns a sink for cfg. client nil means a client with cfg.Timeout;
// logger nil discards.
func New(cfg Config, client *http.Client, logger *slog.Logger) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Fields = cfg.fieldsWithDefaults()
	cfg.LoginURL = strings.TrimRight(cfg.LoginURL, "/")
	if cfg.APIVersion == "" {
		cfg.APIVersion = DefaultAPIVersion
	}
	if cfg.Origin == "" {
		cfg.Origin = DefaultOrigin
	}
	if cfg.OwnerMatch == "" {
		cfg.OwnerMatch = OwnerAlias
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if client == nil {
		client = &http.Client{Timeout: cfg.Timeout}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var key *rsa.PrivateKey
	if cfg.PrivateKeyPEM != "" {
		key, _ = parseRSAKey(cfg.PrivateKeyPEM) // Validate parsed it
	}
	limits := map[string]int{}
	for k, n := range knownLengths[cfg.Object] {
		limits[k] = n
	}
	if cfg.Object != ObjectCase {
		limits["Name"] = customNameLength
	}
	for k, n := range cfg.MaxLengths {
		limits[k] = n
	}
	a := &auth{cfg: cfg, key: key, client: client, now: time.Now}
	return &Sink{
		cfg:    cfg,
		rest:   &rest{auth: a, client: client, version: cfg.APIVersion},
		limits: limits,
		log:    logger.With("component", "salesforce", "object", cfg.Object),
	}, nil
}

func (c Config) audience() string {
	if c.Audience != "" {
		return strings.TrimRight(c.Audience, "/")
	}
	return strings.TrimRight(c.LoginURL, "/")
}

// Deliver creates the voicemail's record and returns its Id; with
// DedupeField, a record already carrying key is returned instead. When the
// owner could not be set, the detail says why after the Id. Salesforce's
// refusals (a required field missing, a field unknown, no access) are
// permanent; 503 and an exhausted API quota ask for a delay.
func (s *Sink) Deliver(ctx context.Context, d *voicemail.Delivery, key string) (string, error) {
	r := &d.Record
	log := s.log.With("contact_id", r.ContactID)
	if s.cfg.DedupeField != "" {
		id, err := s.findByKey(ctx, key)
		if err != nil {
			return "", err
		}
		if id != "" {
			log.Info("salesforce: record already delivered", "id", id)
			return id, nil
		}
	}
	fields := s.values(d)
	if s.cfg.DedupeField != "" {
		fields[s.cfg.DedupeField] = key
	}
	owner, note, err := s.owner(ctx, r)
	if err != nil {
		return "", err
	}
	if owner != "" {
		fields["OwnerId"] = owner
	}
	if note != "" {
		log.Warn("salesforce: default owner kept", "reason", note)
	}
	id, err := s.rest.create(ctx, s.cfg.Object, fields)
	if err != nil {
		var apiErr *APIError
		if s.cfg.DedupeField != "" && errors.As(err, &apiErr) && apiErr.Code == "DUPLICATE_VALUE" {
			// A concurrent delivery of the same key won the unique field.
			if found, ferr := s.findByKey(ctx, key); ferr == nil && found != "" {
				return found, nil
			}
		}
		return "", fmt.Errorf("salesforce: create %s: %w", s.cfg.Object, err)
	}
	if note != "" {
		return id + " (" + note + ")", nil
	}
	return id, nil
}

// findByKey returns the Id of the record carrying key in DedupeField, or "".
func (s *Sink) findByKey(ctx context.Context, key string) (string, error) {
	lit, err := QuoteString(key)
	if err != nil {
		return "", retry.Permanent(err)
	}
	ids, err := s.rest.queryIDs(ctx, fmt.Sprintf("SELECT Id FROM %s WHERE %s = %s LIMIT 1", s.cfg.Object, s.cfg.DedupeField, lit))
	if err != nil {
		return "", fmt.Errorf("salesforce: look up delivery key: %w", err)
	}
	if len(ids) == 0 {
		return "", nil
	}
	return ids[0], nil
}

// owner finds the record's owner. The note says why none was set when one
// was wanted; an error is a query that failed for a reason that may pass.
func (s *Sink) owner(ctx context.Context, r *voicemail.Record) (id, note string, err error) {
	if s.cfg.OwnerMatch == OwnerNone {
		return "", "", nil
	}
	field, value := "", ""
	switch {
	case r.Prefix != "" && strings.TrimSpace(r.Attributes[r.Prefix+"agent_alias"]) != "":
		field, value = "Alias", strings.TrimSpace(r.Attributes[r.Prefix+"agent_alias"])
	case r.Route.AgentUsername == "":
		return "", "", nil // a queue voicemail: assignment rules route it
	case s.cfg.OwnerMatch == OwnerUsername:
		field, value = "Username", r.Route.AgentUsername
	default:
		field, value = "Alias", aliasOf(r.Route.AgentUsername)
	}
	lit, err := QuoteString(value)
	if err != nil {
		return "", fmt.Sprintf("owner %s %q cannot be looked up: %v", strings.ToLower(field), value, err), nil
	}
	ids, err := s.rest.queryIDs(ctx, fmt.Sprintf("SELECT Id FROM User WHERE %s = %s AND IsActive = true LIMIT 2", field, lit))
	if retry.IsPermanent(err) {
		// The owner is a convenience: a refused lookup must not keep the
		// voicemail from being delivered.
		return "", fmt.Sprintf("owner lookup refused: %v: default owner kept", errors.Unwrap(err)), nil
	}
	if err != nil {
		return "", "", fmt.Errorf("salesforce: look up owner: %w", err)
	}
	switch len(ids) {
	case 0:
		return "", fmt.Sprintf("owner %s %q not found: default owner kept", strings.ToLower(field), value), nil
	case 1:
		return ids[0], "", nil
	}
	return "", fmt.Sprintf("owner %s %q matches several users: default owner kept", strings.ToLower(field), value), nil
}

// aliasOf derives a Salesforce alias from a Connect username as Voicemail
// Express 2 did.
func aliasOf(username string) string {
	parts := strings.Split(username, "@")
	switch len(parts) {
	case 2:
		return parts[0]
	case 3:
		return parts[1]
	}
	return username
}

// values builds the record's fields, each cut to its length.
func (s *Sink) values(d *voicemail.Delivery) map[string]any {
	r := &d.Record
	f := s.cfg.Fields
	out := map[string]any{}
	set := func(field, v string) {
		if field != "" && v != "" {
			out[field] = cut(v, s.limits[field])
		}
	}
	set(f.Subject, subject(r))
	set(f.Description, description(d))
	priority := s.cfg.Priority
	if r.Prefix != "" {
		if v := strings.TrimSpace(r.Attributes[r.Prefix+"priority"]); v != "" {
			priority = v
		}
	}
	set(f.Priority, priority)
	set(f.Origin, s.cfg.Origin)
	set(f.Phone, callback(r))
	set(f.Transcript, transcript(r))
	if f.Attributes != "" && len(r.Attributes) > 0 {
		if b, err := json.Marshal(r.Attributes); err == nil {
			set(f.Attributes, string(b))
		}
	}
	if d.MediaURL != "" {
		link := d.MediaURL
		if s.cfg.LinkHTML {
			link = `<a href="` + html.EscapeString(d.MediaURL) + `" rel="noopener noreferrer" target="_blank">Play Voicemail</a>`
		}
		set(f.RecordingLink, link)
	}
	set(f.ContactID, r.ContactID)
	for k, v := range s.cfg.Static {
		set(k, v)
	}
	return out
}

// callback is the number to call back: the one the caller said, else the
// one they called from.
func callback(r *voicemail.Record) string {
	if r.SpokenNumber != "" {
		return r.SpokenNumber
	}
	return r.Caller
}

func caller(r *voicemail.Record) string {
	if r.Caller == "" {
		return "an unknown number"
	}
	return r.Caller
}

func subject(r *voicemail.Record) string {
	var s string
	switch agent := firstNonEmpty(r.Route.AgentName, r.Route.AgentUsername); {
	case agent != "":
		s = "Direct voicemail for " + agent + " from " + caller(r)
	case r.Route.QueueName != "":
		s = "Queue voicemail for " + r.Route.QueueName + " from " + caller(r)
	default:
		s = "Voicemail from " + caller(r)
	}
	if r.Empty {
		s += " (no message)"
	}
	return s
}

func transcript(r *voicemail.Record) string {
	t := r.Transcript
	if t == "" {
		t = "(no speech)"
	}
	if r.Summary == "" {
		return t
	}
	return "Summary: " + r.Summary + "\n\nTranscript: " + t
}

func description(d *voicemail.Delivery) string {
	r := &d.Record
	at := d.ReceivedAt
	if at.IsZero() {
		at = r.CallTime.UTC()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Voicemail from %s, received %s.\n", caller(r), at.Format("Mon 2 Jan 2006 15:04 MST"))
	if r.SpokenNumber != "" {
		fmt.Fprintf(&b, "Callback number said: %s\n", r.SpokenNumber)
	}
	if r.Route.QueueName != "" {
		fmt.Fprintf(&b, "Queue: %s\n", r.Route.QueueName)
	}
	if agent := firstNonEmpty(r.Route.AgentName, r.Route.AgentUsername); agent != "" {
		fmt.Fprintf(&b, "Agent: %s\n", agent)
	}
	fmt.Fprintf(&b, "Contact ID: %s\n\n%s\n", r.ContactID, transcript(r))
	if d.MediaURL != "" {
		fmt.Fprintf(&b, "\nRecording: %s\n", d.MediaURL)
	}
	return b.String()
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// cut shortens s to max characters as Salesforce counts them (UTF-16 code
// units), ending it with "…" when cut; limit 0 means no limit.
func cut(s string, limit int) string {
	if limit <= 0 || len(s) <= limit || utf16Len(s) <= limit { // bytes ≥ UTF-16 units
		return s
	}
	units := 0
	for i, r := range s {
		units += runeUnits(r)
		if units > limit-1 { // room for "…"
			return strings.TrimRightFunc(s[:i], unicode.IsSpace) + "…"
		}
	}
	return s
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += runeUnits(r)
	}
	return n
}

func runeUnits(r rune) int {
	if n := utf16.RuneLen(r); n > 0 {
		return n
	}
	return 1 // invalid UTF-8 becomes U+FFFD in JSON
}
