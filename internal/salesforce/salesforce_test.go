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
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

const apiBase = "/services/data/v62.0"

// reply is a canned HTTP answer.
type reply struct {
	status int
	header map[string]string
	body   string
}

// fakeSF speaks Salesforce's OAuth token endpoint and the REST calls the
// sink makes, and records what it received.
type fakeSF struct {
	t   *testing.T
	srv *httptest.Server

	mu         sync.Mutex
	tokenForms []url.Values
	tokenReply *reply // nil: issue a token
	issued     int
	valid      string // the access token the REST API accepts
	refuseAll  bool   // refuse every access token
	queries    []string
	creates    []map[string]any
	createPath []string
	// onQuery and onCreate answer REST calls; nil means no records found
	// and a created Id.
	onQuery  func(q string) reply
	onCreate func(fields map[string]any) reply
}

func newFakeSF(t *testing.T) *fakeSF {
	f := &fakeSF{t: t}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSF) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	write := func(rp reply) {
		for k, v := range rp.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rp.status)
		io.WriteString(w, rp.body)
	}
	if r.URL.Path == "/services/oauth2/token" {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			write(reply{400, nil, `{"error":"invalid_request","error_description":"bad method or content type"}`})
			return
		}
		r.ParseForm()
		f.tokenForms = append(f.tokenForms, r.PostForm)
		if f.tokenReply != nil {
			write(*f.tokenReply)
			return
		}
		f.issued++
		f.valid = fmt.Sprintf("tok-%d", f.issued)
		write(reply{200, nil, fmt.Sprintf(`{"access_token":%q,"instance_url":%q,"token_type":"Bearer","issued_at":"1767225600000"}`, f.valid, f.srv.URL)})
		return
	}
	if f.refuseAll || r.Header.Get("Authorization") != "Bearer "+f.valid {
		write(reply{401, nil, `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`})
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == apiBase+"/query":
		q := r.URL.Query().Get("q")
		f.queries = append(f.queries, q)
		if f.onQuery != nil {
			write(f.onQuery(q))
			return
		}
		write(reply{200, nil, `{"totalSize":0,"done":true,"records":[]}`})
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, apiBase+"/sobjects/"):
		var fields map[string]any
		if err := json.NewDecoder(r.Body).Decode(&fields); err != nil {
			write(reply{400, nil, `[{"message":"bad JSON","errorCode":"JSON_PARSER_ERROR"}]`})
			return
		}
		f.creates = append(f.creates, fields)
		f.createPath = append(f.createPath, r.URL.Path)
		if f.onCreate != nil {
			write(f.onCreate(fields))
			return
		}
		write(reply{201, nil, `{"id":"500000000000001AAA","success":true,"errors":[]}`})
	default:
		write(reply{404, nil, `[{"message":"The requested resource does not exist","errorCode":"NOT_FOUND"}]`})
	}
}

func records(ids ...string) reply {
	var recs []string
	for _, id := range ids {
		recs = append(recs, fmt.Sprintf(`{"attributes":{"type":"X","url":"/x/%s"},"Id":%q}`, id, id))
	}
	return reply{200, nil, fmt.Sprintf(`{"totalSize":%d,"done":true,"records":[%s]}`, len(ids), strings.Join(recs, ","))}
}

func (f *fakeSF) caseConfig() Config {
	return Config{
		LoginURL:     f.srv.URL,
		ClientID:     "cid",
		ClientSecret: "csecret",
		Object:       ObjectCase,
	}
}

func (f *fakeSF) sink(t *testing.T, cfg Config) *Sink {
	t.Helper()
	s, err := New(cfg, f.srv.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
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
	f.onQuery = func(q string) reply {
		if strings.HasPrefix(q, "SELECT Id FROM User ") {
			return records("005000000000009AAA")
		}
		return records()
	}
	cfg := f.caseConfig()
	cfg.DedupeField = "VMX_Delivery_Key__c"
	cfg.Static = map[string]string{"Status": "New"}
	cfg.Fields.Attributes = "VMX_Attributes__c"
	detail, err := f.sink(t, cfg).Deliver(context.Background(), delivery(), "c-1:sfcase")
	if err != nil || detail != "500000000000001AAA" {
		t.Fatalf("deliver: %q, %v", detail, err)
	}

	if len(f.tokenForms) != 1 {
		t.Fatalf("%d token requests, want 1 (cached)", len(f.tokenForms))
	}
	form := f.tokenForms[0]
	if form.Get("grant_type") != "client_credentials" || form.Get("client_id") != "cid" || form.Get("client_secret") != "csecret" {
		t.Errorf("token form %v", form)
	}
	wantQueries := []string{
		"SELECT Id FROM Case WHERE VMX_Delivery_Key__c = 'c-1:sfcase' LIMIT 1",
		"SELECT Id FROM User WHERE Alias = 'jdoe' AND IsActive = true LIMIT 2",
	}
	if fmt.Sprint(f.queries) != fmt.Sprint(wantQueries) {
		t.Errorf("queries\n%q\nwant\n%q", f.queries, wantQueries)
	}
	if len(f.creates) != 1 || f.createPath[0] != apiBase+"/sobjects/Case/" {
		t.Fatalf("creates %v at %v", f.creates, f.createPath)
	}
	got := f.creates[0]
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
	detail, err := f.sink(t, f.caseConfig()).Deliver(context.Background(), d, "c-1:sfcase")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.queries) != 1 {
		t.Fatalf("queries %q", f.queries)
	}
	q := f.queries[0]
	const head = "SELECT Id FROM User WHERE Alias = "
	if !strings.HasPrefix(q, head) {
		t.Fatalf("query %q", q)
	}
	alias, rest, err := unquoteSOQL(strings.TrimPrefix(q, head))
	if err != nil || alias != hostile || rest != " AND IsActive = true LIMIT 2" {
		t.Fatalf("query %q parses as alias %q then %q (%v)", q, alias, rest, err)
	}
	// Not found: the default owner stays and the receipt says why.
	if _, ok := f.creates[0]["OwnerId"]; ok {
		t.Errorf("OwnerId set: %v", f.creates[0])
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
			f.onQuery = func(string) reply { return records(tc.users...) }
			cfg := f.caseConfig()
			cfg.OwnerMatch = tc.match
			d := delivery()
			d.Record.Route.AgentUsername = tc.username
			d.Record.Route.AgentName = ""
			if tc.attr != "" {
				d.Record.Attributes["vmx_agent_alias"] = tc.attr
			}
			detail, err := f.sink(t, cfg).Deliver(context.Background(), d, "c-1:sfcase")
			if err != nil {
				t.Fatal(err)
			}
			if tc.query == "" && len(f.queries) != 0 || tc.query != "" && (len(f.queries) != 1 || f.queries[0] != tc.query) {
				t.Errorf("queries %q, want %q", f.queries, tc.query)
			}
			if owner, _ := f.creates[0]["OwnerId"].(string); owner != tc.owner {
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
	f.onQuery = func(string) reply {
		return reply{400, nil, `[{"message":"sObject type 'User' is not supported.","errorCode":"INVALID_TYPE"}]`}
	}
	f.onCreate = nil
	detail, err := f.sink(t, f.caseConfig()).Deliver(context.Background(), delivery(), "c-1:sfcase")
	if err != nil || !strings.HasPrefix(detail, "500000000000001AAA (owner lookup refused: 400 INVALID_TYPE") {
		t.Fatalf("deliver: %q, %v", detail, err)
	}
	if _, ok := f.creates[0]["OwnerId"]; ok || len(f.creates) != 1 {
		t.Fatalf("creates %v", f.creates)
	}
	// A lookup that may pass later is retried instead.
	f.onQuery = func(string) reply { return reply{503, nil, `[{"message":"busy","errorCode":"SERVER_UNAVAILABLE"}]`} }
	if _, err := f.sink(t, f.caseConfig()).Deliver(context.Background(), delivery(), "c-2:sfcase"); err == nil || retry.IsPermanent(err) || len(f.creates) != 1 {
		t.Fatalf("transient owner lookup failure: %v, %d creates", err, len(f.creates))
	}
}

func TestDedupeFindsExistingRecord(t *testing.T) {
	f := newFakeSF(t)
	f.onQuery = func(q string) reply {
		if q == "SELECT Id FROM Case WHERE VMX_Delivery_Key__c = 'c-1:sfcase' LIMIT 1" {
			return records("500000000000777AAA")
		}
		return records()
	}
	cfg := f.caseConfig()
	cfg.DedupeField = "VMX_Delivery_Key__c"
	detail, err := f.sink(t, cfg).Deliver(context.Background(), delivery(), "c-1:sfcase")
	if err != nil || detail != "500000000000777AAA" {
		t.Fatalf("deliver: %q, %v", detail, err)
	}
	if len(f.creates) != 0 || len(f.queries) != 1 {
		t.Fatalf("a found record was created again: creates %v, queries %q", f.creates, f.queries)
	}
}

func TestDedupeDuplicateValueOnCreate(t *testing.T) {
	f := newFakeSF(t)
	lookups := 0
	f.onQuery = func(q string) reply {
		if strings.Contains(q, "VMX_Delivery_Key__c") {
			if lookups++; lookups == 2 { // a concurrent delivery created it meanwhile
				return records("500000000000888AAA")
			}
		}
		return records()
	}
	f.onCreate = func(map[string]any) reply {
		return reply{400, nil, `[{"message":"duplicate value found: VMX_Delivery_Key__c duplicates value on record with id: 500000000000888AAA","errorCode":"DUPLICATE_VALUE","fields":[]}]`}
	}
	cfg := f.caseConfig()
	cfg.DedupeField = "VMX_Delivery_Key__c"
	cfg.OwnerMatch = OwnerNone
	detail, err := f.sink(t, cfg).Deliver(context.Background(), delivery(), "c-1:sfcase")
	if err != nil || detail != "500000000000888AAA" || lookups != 2 {
		t.Fatalf("deliver: %q, %v after %d lookups", detail, err, lookups)
	}
}

func TestTokenRefreshedOnceOn401(t *testing.T) {
	f := newFakeSF(t)
	cfg := f.caseConfig()
	cfg.OwnerMatch = OwnerNone
	s := f.sink(t, cfg)
	if _, err := s.Deliver(context.Background(), delivery(), "c-1:sfcase"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.valid = "" // the session timed out
	f.mu.Unlock()
	// The next delivery is refused with tok-1, fetches tok-2 and succeeds.
	if _, err := s.Deliver(context.Background(), delivery(), "c-2:sfcase"); err != nil {
		t.Fatal(err)
	}
	if len(f.tokenForms) != 2 || len(f.creates) != 2 || f.valid != "tok-2" {
		t.Fatalf("%d token requests, %d creates, valid %s", len(f.tokenForms), len(f.creates), f.valid)
	}
}

func TestAuthenticationFailsAfterRefresh(t *testing.T) {
	f := newFakeSF(t)
	f.refuseAll = true // every token the endpoint issues is refused
	cfg := f.caseConfig()
	cfg.OwnerMatch = OwnerNone
	_, err := f.sink(t, cfg).Deliver(context.Background(), delivery(), "c-1:sfcase")
	if err == nil || !retry.IsPermanent(err) || !strings.Contains(err.Error(), "authentication failed") {
		t.Fatalf("err = %v, want permanent authentication failure", err)
	}
	if len(f.tokenForms) != 2 || len(f.creates) != 0 {
		t.Fatalf("%d token requests (want 2: first and one refresh), %d creates", len(f.tokenForms), len(f.creates))
	}
}

func TestErrorClasses(t *testing.T) {
	for name, tc := range map[string]struct {
		token     *reply
		create    reply
		permanent bool
		delay     time.Duration // 0: none asked
		msg       string
	}{
		"required field": {nil, reply{400, nil, `[{"message":"Required fields are missing: [Type]","errorCode":"REQUIRED_FIELD_MISSING","fields":["Type"]}]`}, true, 0, "REQUIRED_FIELD_MISSING: Required fields are missing: [Type] (fields Type)"},
		"invalid field":  {nil, reply{400, nil, `[{"message":"No such column 'Foo__c' on sobject of type Case","errorCode":"INVALID_FIELD"}]`}, true, 0, "No such column 'Foo__c'"},
		"no access":      {nil, reply{403, nil, `[{"message":"insufficient access rights on object id","errorCode":"INSUFFICIENT_ACCESS_OR_READONLY"}]`}, true, 0, "INSUFFICIENT_ACCESS_OR_READONLY"},
		"api quota":      {nil, reply{403, nil, `[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`}, false, defaultLimitDelay, "REQUEST_LIMIT_EXCEEDED"},
		"unavailable":    {nil, reply{503, map[string]string{"Retry-After": "7"}, `[{"message":"Server unavailable","errorCode":"SERVER_UNAVAILABLE"}]`}, false, 7 * time.Second, "SERVER_UNAVAILABLE"},
		"server error":   {nil, reply{500, nil, `oops`}, false, 0, "500: oops"},
		"bad client":     {&reply{400, nil, `{"error":"invalid_client","error_description":"invalid client credentials"}`}, reply{}, true, 0, "authentication failed: 400 Bad Request: invalid_client: invalid client credentials"},
		"token busy":     {&reply{503, nil, `maintenance`}, reply{}, false, defaultUnavailableDelay, "authentication failed: 503"},
		"http instance":  {&reply{200, nil, `{"access_token":"t","instance_url":"http://na1.salesforce.com"}`}, reply{}, true, 0, `instance_url "http://na1.salesforce.com" is not an https URL`},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeSF(t)
			f.tokenReply = tc.token
			f.onCreate = func(map[string]any) reply { return tc.create }
			cfg := f.caseConfig()
			cfg.OwnerMatch = OwnerNone
			_, err := f.sink(t, cfg).Deliver(context.Background(), delivery(), "c-1:sfcase")
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
		LoginURL:      f.srv.URL + "/",
		ClientID:      "3MVG9-consumer-key",
		Username:      "integration@acme.example",
		PrivateKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		Object:        ObjectCase,
		OwnerMatch:    OwnerNone,
	}
	before := time.Now()
	if _, err := f.sink(t, cfg).Deliver(context.Background(), delivery(), "c-1:sfcase"); err != nil {
		t.Fatal(err)
	}
	form := f.tokenForms[0]
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
	if claims.Iss != cfg.ClientID || claims.Sub != cfg.Username || claims.Aud != f.srv.URL {
		t.Errorf("claims %+v", claims)
	}
	if exp := time.Unix(claims.Exp, 0); exp.Before(before) || exp.After(time.Now().Add(3*time.Minute)) {
		t.Errorf("exp %v not within 3 minutes of now", exp)
	}
}

func TestCustomObject(t *testing.T) {
	f := newFakeSF(t)
	cfg := Config{
		LoginURL: f.srv.URL, ClientID: "cid", ClientSecret: "s", Object: "Voicemail__c",
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
	if _, err := f.sink(t, cfg).Deliver(context.Background(), d, "c-1:sfother"); err != nil {
		t.Fatal(err)
	}
	if f.createPath[0] != apiBase+"/sobjects/Voicemail__c/" {
		t.Fatalf("path %s", f.createPath[0])
	}
	got := f.creates[0]
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
	cfg := f.caseConfig()
	cfg.Fields.Phone = Unmapped
	cfg.Priority = "Medium"
	cfg.OwnerMatch = OwnerNone
	d := delivery()
	delete(d.Record.Attributes, "vmx_priority")
	d.Record.Route = voicemail.Route{AgentName: strings.Repeat("ü", 300)}
	d.Record.Caller = ""
	d.Record.SpokenNumber = ""
	if _, err := f.sink(t, cfg).Deliver(context.Background(), d, "c-1:sfcase"); err != nil {
		t.Fatal(err)
	}
	got := f.creates[0]
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
