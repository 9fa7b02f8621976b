package salesforce

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/salesforce/salesforcetest"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

const apiBase = "/services/data/v62.0"

func newFakeSF(t *testing.T) *salesforcetest.Server {
	return salesforcetest.Start(t, salesforcetest.Options{})
}

func reply(status int, body string) salesforcetest.Reply {
	return salesforcetest.Reply{Status: status, Body: body}
}

var records = salesforcetest.Records

func caseConfig(f *salesforcetest.Server) Config {
	return Config{
		LoginURL:     f.URL,
		ClientID:     "cid",
		ClientSecret: "csecret",
		Object:       ObjectCase,
	}
}

func sfSink(t *testing.T, f *salesforcetest.Server, cfg Config) *Sink {
	t.Helper()
	s, err := New(cfg, f.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// created returns the fields of every create request.
func created(f *salesforcetest.Server) []map[string]any {
	var out []map[string]any
	for _, c := range f.Creates() {
		out = append(out, c.Fields)
	}
	return out
}

func delivery() *voicemail.Delivery {
	return &voicemail.Delivery{
		Record: voicemail.Record{
			Request: voicemail.Request{
				ContactID: "c-1", Prefix: "vmx_", Caller: "+15555550100", Language: "en-US",
				CallTime: time.Date(2026, 1, 2, 14, 30, 0, 0, time.UTC),
				Attributes: map[string]string{
					"vmx_flag": "1", "vmx_priority": "High", "vmx_from": "+15555550100",
				},
			},
			Transcript:   "hi this is Jane please call me back at 555 555 0123",
			SpokenNumber: "5555550123",
			Summary:      "Jane asks for a callback.",
			Route:        voicemail.Route{QueueName: "Support", AgentUsername: "jdoe@example.com", AgentName: "John Doe"},
		},
		MediaURL:   "https://vmx.example/v1/media/c-1?exp=1&sig=x",
		ReceivedAt: time.Date(2026, 1, 2, 9, 30, 0, 0, time.FixedZone("EST", -5*3600)),
	}
}

func TestDeliverCase(t *testing.T) {
	f := newFakeSF(t)
	f.AddUser(salesforcetest.User{ID: "005000000000009AAA", Alias: "jdoe", Username: "jdoe@acme.example"})
	f.AddUser(salesforcetest.User{ID: "005000000000008AAA", Alias: "jdoe", Inactive: true})
	cfg := caseConfig(f)
	cfg.DedupeField = "VMX_Delivery_Key__c"
	cfg.Static = map[string]string{"Status": "New"}
	cfg.Fields.Attributes = "VMX_Attributes__c"
	detail, err := sfSink(t, f, cfg).Deliver(context.Background(), delivery(), "c-1:sfcase")
	if err != nil || detail != "500000000000001AAA" {
		t.Fatalf("deliver: %q, %v", detail, err)
	}

	if len(f.TokenForms()) != 1 {
		t.Fatalf("%d token requests, want 1 (cached)", len(f.TokenForms()))
	}
	form := f.TokenForms()[0]
	if form.Get("grant_type") != "client_credentials" || form.Get("client_id") != "cid" || form.Get("client_secret") != "csecret" {
		t.Errorf("token form %v", form)
	}
	wantQueries := []string{
		"SELECT Id FROM Case WHERE VMX_Delivery_Key__c = 'c-1:sfcase' LIMIT 1",
		"SELECT Id FROM User WHERE Alias = 'jdoe' AND IsActive = true LIMIT 2",
	}
	if fmt.Sprint(f.Queries()) != fmt.Sprint(wantQueries) {
		t.Errorf("queries\n%q\nwant\n%q", f.Queries(), wantQueries)
	}
	if len(f.Creates()) != 1 || f.Creates()[0].Path != apiBase+"/sobjects/Case/" {
		t.Fatalf("creates %+v", f.Creates())
	}
	got := created(f)[0]
	want := map[string]any{
		"Subject":             "Direct voicemail for John Doe from +15555550100",
		"Priority":            "High",
		"Origin":              "Phone",
		"SuppliedPhone":       "5555550123",
		"Status":              "New",
		"OwnerId":             "005000000000009AAA",
		"VMX_Delivery_Key__c": "c-1:sfcase",
		"VMX_Attributes__c":   `{"vmx_flag":"1","vmx_from":"+15555550100","vmx_priority":"High"}`,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("field %s = %v, want %v", k, got[k], v)
		}
	}
	desc, _ := got["Description"].(string)
	for _, part := range []string{
		"Voicemail from +15555550100, received Fri 2 Jan 2026 09:30 EST.",
		"Callback number said: 5555550123", "Queue: Support", "Agent: John Doe", "Contact ID: c-1",
		"Summary: Jane asks for a callback.", "Transcript: hi this is Jane please call me back",
		"Recording: https://vmx.example/v1/media/c-1?exp=1&sig=x",
	} {
		if !strings.Contains(desc, part) {
			t.Errorf("description lacks %q:\n%s", part, desc)
		}
	}
	if len(got) != len(want)+1 {
		t.Errorf("created fields %v, want exactly %d", got, len(want)+1)
	}
}

func TestHostileAliasIsEscaped(t *testing.T) {
	f := newFakeSF(t)
	d := delivery()
	hostile := `o'brien\`
	d.Record.Attributes["vmx_agent_alias"] = hostile
	detail, err := sfSink(t, f, caseConfig(f)).Deliver(context.Background(), d, "c-1:sfcase")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Queries()) != 1 {
		t.Fatalf("queries %q", f.Queries())
	}
	q := f.Queries()[0]
	const head = "SELECT Id FROM User WHERE Alias = "
	if !strings.HasPrefix(q, head) {
		t.Fatalf("query %q", q)
	}
	alias, rest, err := unquoteSOQL(strings.TrimPrefix(q, head))
	if err != nil || alias != hostile || rest != " AND IsActive = true LIMIT 2" {
		t.Fatalf("query %q parses as alias %q then %q (%v)", q, alias, rest, err)
	}
	// Not found: the default owner stays and the receipt says why.
	if _, ok := created(f)[0]["OwnerId"]; ok {
		t.Errorf("OwnerId set: %v", created(f)[0])
	}
	if want := `500000000000001AAA (owner alias "o'brien\\" not found: default owner kept)`; detail != want {
		t.Errorf("detail %q, want %q", detail, want)
	}
}

func TestOwnerMatching(t *testing.T) {
	for name, tc := range map[string]struct {
		match    string
		username string
		attr     string
		users    []string
		query    string // "" means no owner query
		owner    string
		note     string
	}{
		"alias from username":    {OwnerAlias, "jdoe@example.com", "", []string{"005A"}, "SELECT Id FROM User WHERE Alias = 'jdoe' AND IsActive = true LIMIT 2", "005A", ""},
		"alias between two @":    {OwnerAlias, "saml@jdoe@idp", "", []string{"005A"}, "SELECT Id FROM User WHERE Alias = 'jdoe' AND IsActive = true LIMIT 2", "005A", ""},
		"username":               {OwnerUsername, "jdoe@example.com", "", []string{"005B"}, "SELECT Id FROM User WHERE Username = 'jdoe@example.com' AND IsActive = true LIMIT 2", "005B", ""},
		"attribute wins":         {OwnerUsername, "jdoe@example.com", "jd2", []string{"005C"}, "SELECT Id FROM User WHERE Alias = 'jd2' AND IsActive = true LIMIT 2", "005C", ""},
		"several users":          {OwnerAlias, "jdoe@example.com", "", []string{"005A", "005D"}, "SELECT Id FROM User WHERE Alias = 'jdoe' AND IsActive = true LIMIT 2", "", `owner alias "jdoe" matches several users`},
		"queue voicemail":        {OwnerAlias, "", "", nil, "", "", ""},
		"none":                   {OwnerNone, "jdoe@example.com", "jd2", nil, "", "", ""},
		"control char in alias":  {OwnerAlias, "", "j\ndoe", nil, "", "", "cannot be looked up"},
		"not found, queue route": {OwnerAlias, "", "ghost", nil, "SELECT Id FROM User WHERE Alias = 'ghost' AND IsActive = true LIMIT 2", "", `owner alias "ghost" not found`},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeSF(t)
			f.OnQuery(func(string) salesforcetest.Reply { return records(tc.users...) })
			cfg := caseConfig(f)
			cfg.OwnerMatch = tc.match
			d := delivery()
			d.Record.Route.AgentUsername = tc.username
			d.Record.Route.AgentName = ""
			if tc.attr != "" {
				d.Record.Attributes["vmx_agent_alias"] = tc.attr
			}
			detail, err := sfSink(t, f, cfg).Deliver(context.Background(), d, "c-1:sfcase")
			if err != nil {
				t.Fatal(err)
			}
			if tc.query == "" && len(f.Queries()) != 0 || tc.query != "" && (len(f.Queries()) != 1 || f.Queries()[0] != tc.query) {
				t.Errorf("queries %q, want %q", f.Queries(), tc.query)
			}
			if owner, _ := created(f)[0]["OwnerId"].(string); owner != tc.owner {
				t.Errorf("OwnerId %q, want %q", owner, tc.owner)
			}
			if tc.note == "" && detail != "500000000000001AAA" || tc.note != "" && !strings.Contains(detail, tc.note) {
				t.Errorf("detail %q, want note %q", detail, tc.note)
			}
		})
	}
}

func TestOwnerLookupRefusedKeepsDefaultOwner(t *testing.T) {
	f := newFakeSF(t)
	f.OnQuery(func(string) salesforcetest.Reply {
		return reply(400, `[{"message":"sObject type 'User' is not supported.","errorCode":"INVALID_TYPE"}]`)
	})
	detail, err := sfSink(t, f, caseConfig(f)).Deliver(context.Background(), delivery(), "c-1:sfcase")
	if err != nil || !strings.HasPrefix(detail, "500000000000001AAA (owner lookup refused: 400 INVALID_TYPE") {
		t.Fatalf("deliver: %q, %v", detail, err)
	}
	if _, ok := created(f)[0]["OwnerId"]; ok || len(f.Creates()) != 1 {
		t.Fatalf("creates %v", created(f))
	}
	// A lookup that may pass later is retried instead.
	f.OnQuery(func(string) salesforcetest.Reply {
		return reply(503, `[{"message":"busy","errorCode":"SERVER_UNAVAILABLE"}]`)
	})
	if _, err := sfSink(t, f, caseConfig(f)).Deliver(context.Background(), delivery(), "c-2:sfcase"); err == nil || retry.IsPermanent(err) || len(f.Creates()) != 1 {
		t.Fatalf("transient owner lookup failure: %v, %d creates", err, len(f.Creates()))
	}
}

func TestDedupeFindsExistingRecord(t *testing.T) {
	f := newFakeSF(t)
	f.AddRecord("Case", map[string]any{"VMX_Delivery_Key__c": "c-2:sfcase"})
	id := f.AddRecord("Case", map[string]any{"VMX_Delivery_Key__c": "c-1:sfcase"})
	cfg := caseConfig(f)
	cfg.DedupeField = "VMX_Delivery_Key__c"
	detail, err := sfSink(t, f, cfg).Deliver(context.Background(), delivery(), "c-1:sfcase")
	if err != nil || detail != id {
		t.Fatalf("deliver: %q, %v", detail, err)
	}
	if len(f.Creates()) != 0 || len(f.Queries()) != 1 {
		t.Fatalf("a found record was created again: creates %v, queries %q", created(f), f.Queries())
	}
}

func TestDedupeDuplicateValueOnCreate(t *testing.T) {
	f := newFakeSF(t)
	lookups := 0
	f.OnQuery(func(q string) salesforcetest.Reply {
		if strings.Contains(q, "VMX_Delivery_Key__c") {
			if lookups++; lookups == 2 { // a concurrent delivery created it meanwhile
				return records("500000000000888AAA")
			}
		}
		return records()
	})
	f.OnCreate(func(string, map[string]any) salesforcetest.Reply {
		return reply(400, `[{"message":"duplicate value found: VMX_Delivery_Key__c duplicates value on record with id: 500000000000888AAA","errorCode":"DUPLICATE_VALUE","fields":[]}]`)
	})
	cfg := caseConfig(f)
	cfg.DedupeField = "VMX_Delivery_Key__c"
	cfg.OwnerMatch = OwnerNone
	detail, err := sfSink(t, f, cfg).Deliver(context.Background(), delivery(), "c-1:sfcase")
	if err != nil || detail != "500000000000888AAA" || lookups != 2 {
		t.Fatalf("deliver: %q, %v after %d lookups", detail, err, lookups)
	}
}

func TestTokenRefreshedOnceOn401(t *testing.T) {
	f := newFakeSF(t)
	cfg := caseConfig(f)
	cfg.OwnerMatch = OwnerNone
	s := sfSink(t, f, cfg)
	if _, err := s.Deliver(context.Background(), delivery(), "c-1:sfcase"); err != nil {
		t.Fatal(err)
	}
	f.ExpireSession() // the session timed out
	// The next delivery is refused with tok-1, fetches tok-2 and succeeds.
	if _, err := s.Deliver(context.Background(), delivery(), "c-2:sfcase"); err != nil {
		t.Fatal(err)
	}
	if len(f.TokenForms()) != 2 || len(f.Creates()) != 2 || f.AccessToken() != "tok-2" {
		t.Fatalf("%d token requests, %d creates, valid %s", len(f.TokenForms()), len(f.Creates()), f.AccessToken())
	}
}

func TestAuthenticationFailsAfterRefresh(t *testing.T) {
	f := newFakeSF(t)
	f.RefuseAllTokens() // every token the endpoint issues is refused
	cfg := caseConfig(f)
	cfg.OwnerMatch = OwnerNone
	_, err := sfSink(t, f, cfg).Deliver(context.Background(), delivery(), "c-1:sfcase")
	if err == nil || !retry.IsPermanent(err) || !strings.Contains(err.Error(), "authentication failed") {
		t.Fatalf("err = %v, want permanent authentication failure", err)
	}
	if len(f.TokenForms()) != 2 || len(f.Creates()) != 0 {
		t.Fatalf("%d token requests (want 2: first and one refresh), %d creates", len(f.TokenForms()), len(f.Creates()))
	}
}

func TestErrorClasses(t *testing.T) {
	for name, tc := range map[string]struct {
		token     salesforcetest.Reply
		create    salesforcetest.Reply
		permanent bool
		delay     time.Duration // 0: none asked
		msg       string
	}{
		"required field": {salesforcetest.Reply{}, reply(400, `[{"message":"Required fields are missing: [Type]","errorCode":"REQUIRED_FIELD_MISSING","fields":["Type"]}]`), true, 0, "REQUIRED_FIELD_MISSING: Required fields are missing: [Type] (fields Type)"},
		"invalid field":  {salesforcetest.Reply{}, reply(400, `[{"message":"No such column 'Foo__c' on sobject of type Case","errorCode":"INVALID_FIELD"}]`), true, 0, "No such column 'Foo__c'"},
		"no access":      {salesforcetest.Reply{}, reply(403, `[{"message":"insufficient access rights on object id","errorCode":"INSUFFICIENT_ACCESS_OR_READONLY"}]`), true, 0, "INSUFFICIENT_ACCESS_OR_READONLY"},
		"api quota":      {salesforcetest.Reply{}, reply(403, `[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`), false, defaultLimitDelay, "REQUEST_LIMIT_EXCEEDED"},
		"unavailable":    {salesforcetest.Reply{}, salesforcetest.Reply{Status: 503, Header: map[string]string{"Retry-After": "7"}, Body: `[{"message":"Server unavailable","errorCode":"SERVER_UNAVAILABLE"}]`}, false, 7 * time.Second, "SERVER_UNAVAILABLE"},
		"server error":   {salesforcetest.Reply{}, reply(500, `oops`), false, 0, "500: oops"},
		"bad client":     {reply(400, `{"error":"invalid_client","error_description":"invalid client credentials"}`), salesforcetest.Reply{}, true, 0, "authentication failed: 400 Bad Request: invalid_client: invalid client credentials"},
		"token busy":     {reply(503, `maintenance`), salesforcetest.Reply{}, false, defaultUnavailableDelay, "authentication failed: 503"},
		"http instance":  {reply(200, `{"access_token":"t","instance_url":"http://na1.salesforce.com"}`), salesforcetest.Reply{}, true, 0, `instance_url "http://na1.salesforce.com" is not an https URL`},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeSF(t)
			f.SetTokenReply(tc.token)
			f.OnCreate(func(string, map[string]any) salesforcetest.Reply { return tc.create })
			cfg := caseConfig(f)
			cfg.OwnerMatch = OwnerNone
			_, err := sfSink(t, f, cfg).Deliver(context.Background(), delivery(), "c-1:sfcase")
			if err == nil {
				t.Fatal("no error")
			}
			delay, delayed := retry.Delay(err)
			if retry.IsPermanent(err) != tc.permanent || delay != tc.delay || delayed != (tc.delay > 0) {
				t.Errorf("err %v: permanent %v, delay %v", err, retry.IsPermanent(err), delay)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err %q lacks %q", err, tc.msg)
			}
		})
	}
}

func TestJWTBearer(t *testing.T) {
	f := newFakeSF(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		LoginURL:      f.URL + "/",
		ClientID:      "3MVG9-consumer-key",
		Username:      "integration@acme.example",
		PrivateKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		Object:        ObjectCase,
		OwnerMatch:    OwnerNone,
	}
	before := time.Now()
	if _, err := sfSink(t, f, cfg).Deliver(context.Background(), delivery(), "c-1:sfcase"); err != nil {
		t.Fatal(err)
	}
	form := f.TokenForms()[0]
	if form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || form.Has("client_secret") {
		t.Fatalf("token form %v", form)
	}
	parts := strings.Split(form.Get("assertion"), ".")
	if len(parts) != 3 {
		t.Fatalf("assertion %q", form.Get("assertion"))
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("signature: %v", err)
	}
	var header struct{ Alg string }
	var claims struct {
		Iss, Sub, Aud string
		Exp           int64
	}
	h, _ := base64.RawURLEncoding.DecodeString(parts[0])
	c, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if json.Unmarshal(h, &header) != nil || json.Unmarshal(c, &claims) != nil || header.Alg != "RS256" {
		t.Fatalf("header %s claims %s", h, c)
	}
	if claims.Iss != cfg.ClientID || claims.Sub != cfg.Username || claims.Aud != f.URL {
		t.Errorf("claims %+v", claims)
	}
	if exp := time.Unix(claims.Exp, 0); exp.Before(before) || exp.After(time.Now().Add(3*time.Minute)) {
		t.Errorf("exp %v not within 3 minutes of now", exp)
	}
}

func TestCustomObject(t *testing.T) {
	f := newFakeSF(t)
	cfg := Config{
		LoginURL: f.URL, ClientID: "cid", ClientSecret: "s", Object: "Voicemail__c",
		Fields: FieldMap{
			Subject: "Name", Transcript: "Transcript__c", Phone: "Callback_Phone__c",
			Attributes: "Attributes__c", RecordingLink: "Recording__c", ContactID: "Contact_Id__c",
		},
		MaxLengths: map[string]int{"Transcript__c": 40},
		LinkHTML:   true,
		OwnerMatch: OwnerNone,
	}
	d := delivery()
	d.Record.Route = voicemail.Route{QueueName: strings.Repeat("Very Long Queue Name ", 5)}
	d.Record.Summary = ""
	d.MediaURL = `https://vmx.example/m?a=1&b="2"`
	if _, err := sfSink(t, f, cfg).Deliver(context.Background(), d, "c-1:sfother"); err != nil {
		t.Fatal(err)
	}
	if f.Creates()[0].Path != apiBase+"/sobjects/Voicemail__c/" {
		t.Fatalf("path %s", f.Creates()[0].Path)
	}
	got := created(f)[0]
	name, _ := got["Name"].(string)
	if n := len([]rune(name)); n != 80 || !strings.HasPrefix(name, "Queue voicemail for Very Long") || !strings.HasSuffix(name, "…") {
		t.Errorf("Name %q (%d characters), want cut to 80", name, n)
	}
	if got["Transcript__c"] != "hi this is Jane please call me back at…" {
		t.Errorf("Transcript__c %q", got["Transcript__c"])
	}
	if got["Recording__c"] != `<a href="https://vmx.example/m?a=1&amp;b=&#34;2&#34;" rel="noopener noreferrer" target="_blank">Play Voicemail</a>` {
		t.Errorf("Recording__c %q", got["Recording__c"])
	}
	var attrs map[string]string
	if err := json.Unmarshal([]byte(got["Attributes__c"].(string)), &attrs); err != nil || attrs["vmx_priority"] != "High" {
		t.Errorf("Attributes__c %v: %v", got["Attributes__c"], err)
	}
	if got["Callback_Phone__c"] != "5555550123" || got["Contact_Id__c"] != "c-1" {
		t.Errorf("fields %v", got)
	}
	for _, caseOnly := range []string{"Subject", "Description", "Origin", "Priority", "SuppliedPhone"} {
		if _, ok := got[caseOnly]; ok {
			t.Errorf("custom object got Case default field %s", caseOnly)
		}
	}
}

func TestCaseDefaultsAndLimits(t *testing.T) {
	f := newFakeSF(t)
	cfg := caseConfig(f)
	cfg.Fields.Phone = Unmapped
	cfg.Priority = "Medium"
	cfg.OwnerMatch = OwnerNone
	d := delivery()
	delete(d.Record.Attributes, "vmx_priority")
	d.Record.Route = voicemail.Route{AgentName: strings.Repeat("ü", 300)}
	d.Record.Caller = ""
	d.Record.SpokenNumber = ""
	if _, err := sfSink(t, f, cfg).Deliver(context.Background(), d, "c-1:sfcase"); err != nil {
		t.Fatal(err)
	}
	got := created(f)[0]
	subject := got["Subject"].(string)
	if n := len([]rune(subject)); n != 255 || !strings.HasSuffix(subject, "…") {
		t.Errorf("Subject has %d characters, want 255 ending in …", n)
	}
	if got["Priority"] != "Medium" {
		t.Errorf("Priority %v, want the configured default", got["Priority"])
	}
	if _, ok := got["SuppliedPhone"]; ok {
		t.Errorf("unmapped SuppliedPhone set: %v", got)
	}
	if !strings.Contains(got["Description"].(string), "Voicemail from an unknown number") {
		t.Errorf("Description %q", got["Description"])
	}
}

func TestCut(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"hello", 5, "hello"},
		{"hello!", 5, "hell…"},
		{"héllo", 5, "héllo"}, // 6 bytes, 5 characters
		{"ab😀cd", 5, "ab😀…"},  // the emoji is 2 UTF-16 units
		{"ab😀cd", 4, "ab…"},   // never half a surrogate pair
		{"abc", 0, "abc"},
	} {
		if got := cut(tc.in, tc.limit); got != tc.want {
			t.Errorf("cut(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Config{LoginURL: "https://acme.my.salesforce.com", ClientID: "c", ClientSecret: "s", Object: ObjectCase}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for name, tc := range map[string]struct {
		mod  func(*Config)
		want []string
	}{
		"http login":       {func(c *Config) { c.LoginURL = "http://login.salesforce.com" }, []string{"login URL"}},
		"login path":       {func(c *Config) { c.LoginURL = "https://login.salesforce.com/services" }, []string{"without path"}},
		"no creds":         {func(c *Config) { c.ClientSecret = "" }, []string{"credentials must be set"}},
		"both flows":       {func(c *Config) { c.Username = "u" }, []string{"not both"}},
		"jwt no key":       {func(c *Config) { c.ClientSecret, c.Username = "", "u" }, []string{"private key must be set"}},
		"jwt bad key":      {func(c *Config) { c.ClientSecret, c.Username, c.PrivateKeyPEM = "", "u", "nope" }, []string{"no PEM block"}},
		"bad version":      {func(c *Config) { c.APIVersion = "62" }, []string{"API version"}},
		"bad object":       {func(c *Config) { c.Object = "Case WHERE" }, []string{"object"}},
		"custom unmapped":  {func(c *Config) { c.Object = "Voicemail__c" }, []string{"must map description or transcript"}},
		"injected field":   {func(c *Config) { c.DedupeField = "Key__c = '' OR Id" }, []string{"dedupe field"}},
		"same field twice": {func(c *Config) { c.Fields.Transcript = "Description" }, []string{"description and transcript both write field Description"}},
		"owner static":     {func(c *Config) { c.Static = map[string]string{"OwnerId": "005"} }, []string{"OwnerId"}},
		"owner match":      {func(c *Config) { c.OwnerMatch = "email" }, []string{"owner match"}},
		"all at once": {func(c *Config) { c.LoginURL, c.ClientID, c.Object = "", "", "" },
			[]string{"login URL", "client id", "object"}},
	} {
		t.Run(name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestParseRSAKey(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if got, err := parseRSAKey(string(pkcs1)); err != nil || !got.Equal(key) {
		t.Fatalf("PKCS#1: %v", err)
	}
	for name, text := range map[string]string{
		"encrypted": "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
		"cert":      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
	} {
		if _, err := parseRSAKey(text); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

// Against an org whose dedupe field is a unique External ID, delivering the
// same key again (a retry after a crash) finds the record and creates none.
func TestDedupeAgainstUniqueField(t *testing.T) {
	f := salesforcetest.Start(t, salesforcetest.Options{ClientID: "cid", ClientSecret: "csecret", UniqueFields: []string{"VMX_Delivery_Key__c"}})
	cfg := caseConfig(f)
	cfg.DedupeField = "VMX_Delivery_Key__c"
	cfg.OwnerMatch = OwnerNone
	first, err := sfSink(t, f, cfg).Deliver(context.Background(), delivery(), "c-1:sfcase")
	if err != nil {
		t.Fatal(err)
	}
	again, err := sfSink(t, f, cfg).Deliver(context.Background(), delivery(), "c-1:sfcase")
	if err != nil || again != first {
		t.Fatalf("second delivery: %q, %v; want the first record %q", again, err, first)
	}
	other, err := sfSink(t, f, cfg).Deliver(context.Background(), delivery(), "c-2:sfcase")
	if err != nil || other == first {
		t.Fatalf("another key: %q, %v", other, err)
	}
	if n := len(f.Creates()); n != 2 {
		t.Errorf("%d creates, want 2", n)
	}
}
