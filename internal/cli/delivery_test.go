package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/connect"
	"github.com/vmx-dev/vmx/internal/connect/connecttest"
	"github.com/vmx-dev/vmx/internal/email"
	"github.com/vmx-dev/vmx/internal/email/sestest"
	"github.com/vmx-dev/vmx/internal/email/smtptest"
	"github.com/vmx-dev/vmx/internal/kvssim"
	"github.com/vmx-dev/vmx/internal/npmtest"
	"github.com/vmx-dev/vmx/internal/salesforce/salesforcetest"
	"github.com/vmx-dev/vmx/internal/server"
	"github.com/vmx-dev/vmx/internal/synth"
	"github.com/vmx-dev/vmx/internal/wav"
)

const (
	dtAPIKey     = "delivery-test-api-key"
	dtHookSecret = "delivery-test-webhook-secret"
	dtTaskFlow   = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	dtQueue      = "66666666-7777-8888-9999-000000000000"
	dtCaller     = "+15555550123"
	dtFrom       = "Voicemail <voicemail@example.com>"
	dtInstance   = connecttest.DefaultInstanceID
)

// dtCallTime is when the test calls start: 10:04 EST, in the time zone
// the tests configure.
var dtCallTime = time.Date(2026, 1, 5, 15, 4, 0, 0, time.UTC)

// testCall is one caller's voicemail: its recording in the KVS simulator and
// the contact record Amazon Connect writes.
type testCall struct {
	contact  string
	seed     uint64
	attrs    map[string]string
	queueARN string // the record's Queue.ARN
	silent   bool   // the caller says nothing
}

// record adds the call's recording to sim and returns its contact record.
func (c testCall) record(t *testing.T, sim *kvssim.Server) []byte {
	t.Helper()
	var w bytes.Buffer
	if c.silent {
		const samples = 2 * 8000
		f := wav.Telephone
		f.Channels = 2
		ww, err := wav.NewWriter(&w, f, 4*samples)
		if err != nil {
			t.Fatal(err)
		}
		ww.Write(make([]byte, 4*samples))
		if err := ww.Close(); err != nil {
			t.Fatal(err)
		}
	} else if err := synth.WriteWAV(&w, synth.Spec{Seconds: 2, Prompt: 0.3, Seed: c.seed, ContactID: c.contact, Start: dtCallTime}); err != nil {
		t.Fatal(err)
	}
	src, err := kvssim.FromWAV(&w, kvssim.Contact{ContactID: c.contact, Start: dtCallTime})
	if err != nil {
		t.Fatal(err)
	}
	sim.AddStream(c.contact, src)
	arn, _ := sim.StreamARN(c.contact)
	frags, _ := sim.Fragments(c.contact)
	rec := map[string]any{
		"ContactId": c.contact, "Channel": "VOICE", "InitiationTimestamp": dtCallTime.Format(time.RFC3339),
		"InstanceARN": "arn:aws:connect:us-east-1:" + connecttest.DefaultAccount + ":instance/" + dtInstance,
		"Attributes":  c.attrs,
		"Recordings": []map[string]any{{"Location": arn, "StorageType": "KINESIS_VIDEO_STREAM", "ParticipantType": "CUSTOMER",
			"FragmentStartNumber": frags[0].Number, "FragmentStopNumber": frags[len(frags)-1].Number,
			"StartTimestamp": dtCallTime.Format(time.RFC3339), "StopTimestamp": dtCallTime.Add(time.Minute).Format(time.RFC3339)}},
	}
	if c.queueARN != "" {
		rec["Queue"] = map[string]any{"ARN": c.queueARN, "Name": "personal"}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// served is a `vmx serve` running in process.
type served struct {
	url string
	dir string
}

// voicemailView is what GET /v1/voicemails/{id} answers.
type voicemailView struct {
	ContactID  string `json:"contact_id"`
	Status     string `json:"status"`
	Error      string `json:"error"`
	FailedStep string `json:"failed_step"`
	AudioKey   string `json:"audio_key"`
	AudioSHA   string `json:"audio_sha256"`
	Empty      bool   `json:"empty"`
	Route      struct {
		QueueName  string `json:"queue_name"`
		QueueEmail string `json:"queue_email"`
		AgentID    string `json:"agent_id"`
		AgentEmail string `json:"agent_email"`
	} `json:"route"`
	Warnings []string `json:"warnings"`
	Receipts []struct {
		Sink   string `json:"sink"`
		Key    string `json:"key"`
		Detail string `json:"detail"`
	} `json:"receipts"`
}

// serveVMX runs `vmx serve` with the settings every delivery test shares
// and env over them, until the test ends.
func serveVMX(t *testing.T, sim http.Handler, env map[string]string) *served {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	s := &served{dir: t.TempDir()}
	addr := freePort(t)
	s.url = "http://" + addr
	all := map[string]string{
		"VMX_DATA_DIR": s.dir, "VMX_LISTEN": addr, "VMX_API_KEY": dtAPIKey, "VMX_KVS_ENDPOINT": simSrv.URL,
		"VMX_AWS_REGION": "us-east-1", "VMX_LOG_LEVEL": "warn", "VMX_TIME_ZONE": "America/New_York",
	}
	maps.Copy(all, env)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &npmtest.Buffer{} // vmx logs from many goroutines
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"serve"}, &Env{Stdin: bytes.NewReader(nil), Stdout: io.Discard, Stderr: logs, Getenv: func(k string) string { return all[k] }})
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("vmx serve exited %d", code)
		}
		if t.Failed() {
			t.Logf("vmx serve log:\n%s", logs)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get(s.url + "/healthz"); err == nil {
			resp.Body.Close()
			return s
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("vmx serve exited %d at start:\n%s", code, logs)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("vmx serve did not come up:\n%s", logs)
		}
	}
}

// post sends contact records to /v1/ctr and requires each to be accepted.
func (s *served) post(t *testing.T, records ...[]byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/ctr", bytes.NewReader(bytes.Join(records, []byte("\n"))))
	req.Header.Set("X-API-Key", dtAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sum server.IntakeSummary
	if err := json.NewDecoder(resp.Body).Decode(&sum); err != nil || resp.StatusCode != http.StatusAccepted || sum.Accepted != len(records) {
		t.Fatalf("POST /v1/ctr: %s %+v %v", resp.Status, sum, err)
	}
}

func (s *served) voicemail(t *testing.T, id string) voicemailView {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url+"/v1/voicemails/"+id, nil)
	req.Header.Set("X-API-Key", dtAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v voicemailView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/voicemails/%s: %s %v", id, resp.Status, err)
	}
	return v
}

// done waits until the voicemail is no longer queued.
func (s *served) done(t *testing.T, id string) voicemailView {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v := s.voicemail(t, id)
		if v.Status != "queued" {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("voicemail %s still queued: %+v", id, v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stored returns the recording vmx keeps for v, read from its data
// directory's blob store.
func (s *served) stored(t *testing.T, v voicemailView) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "blobs", filepath.FromSlash(v.AudioKey)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fetch GETs a media link, as whoever got it would.
func fetch(t *testing.T, link string) []byte {
	t.Helper()
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", link, resp.Status, err)
	}
	return b
}

// tasksFor returns the distinct tasks Connect created for a voice contact.
func tasksFor(f *connecttest.Server, contact string) []connecttest.Task {
	var out []connecttest.Task
	for _, t := range f.Tasks() {
		if t.Body["PreviousContactId"] == contact {
			out = append(out, t)
		}
	}
	return out
}

// mailFor returns the messages the SMTP server got for a contact.
func mailFor(t *testing.T, srv *smtptest.Server, contact string) []smtptest.Message {
	t.Helper()
	var out []smtptest.Message
	for _, m := range srv.Messages() {
		p, err := smtptest.Parse(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if p.Header.Get(email.HeaderContactID) == contact {
			out = append(out, m)
		}
	}
	return out
}

// One voicemail delivered to every destination at once: a Connect task
// (through a lost answer and failures that outlast the SDK's retries), an
// e-mail over STARTTLS with the recording attached, a signed webhook and a
// Salesforce Case; then the contact's flag is reset, and the stored
// voicemail lists the four receipts.
func TestDeliveryAllModes(t *testing.T) {
	cf := connecttest.Start(t, connecttest.Options{})
	cf.AddQueue(connecttest.Queue{ID: dtQueue, Name: "Sales", Tags: map[string]string{connect.QueueEmailTag: "Sales Team <sales@example.com>"}})
	// The first attempt creates the task and its answer is lost; the next
	// two fail outright, so the SDK gives up after its three attempts and
	// the pipeline retries the delivery.
	cf.FailNext(connecttest.OpStartTaskContact,
		connecttest.Failure{Status: 500, Code: "InternalServiceException", Applied: true},
		connecttest.Failure{Status: 500, Code: "InternalServiceException"},
		connecttest.Failure{Status: 500, Code: "InternalServiceException"})
	mail := smtptest.Start(t, smtptest.Options{TLS: smtptest.TLSStartTLS, Username: "vmx", Password: "smtp-password"})
	sf := salesforcetest.Start(t, salesforcetest.Options{ClientID: "sf-client", ClientSecret: "sf-secret", UniqueFields: []string{"VMX_Delivery_Key__c"}})
	hooks := newHookLog(dtHookSecret)
	hookSrv := httptest.NewServer(hooks)
	t.Cleanup(hookSrv.Close)
	sim := kvssim.New(kvssim.Options{})
	call := testCall{contact: "dd000000-0000-4000-8000-000000000001", seed: 3, attrs: map[string]string{
		"vmx3_flag": "1", "vmx3_from": dtCaller, "vmx3_lang": "en-US", "vmx3_queue_arn": cf.QueueARN(dtQueue),
		"vmx3_mode": "task,email,webhook,sfcase"}}
	rec := call.record(t, sim)
	s := serveVMX(t, sim, map[string]string{
		"VMX_WEBHOOK_URL": hookSrv.URL, "VMX_WEBHOOK_SECRET": dtHookSecret,
		"VMX_CONNECT_ENABLED": "true", "VMX_CONNECT_ENDPOINT": cf.URL, "VMX_CONNECT_TASK_FLOW_ID": dtTaskFlow,
		"VMX_EMAIL_FROM": dtFrom, "VMX_SMTP_HOST": mail.Host, "VMX_SMTP_PORT": fmt.Sprint(mail.Port), "VMX_SMTP_TLS": "starttls",
		"VMX_SMTP_CA_FILE": mail.CAFile, "VMX_SMTP_USERNAME": "vmx", "VMX_SMTP_PASSWORD": "smtp-password",
		"VMX_SALESFORCE_LOGIN_URL": sf.URL, "VMX_SALESFORCE_CA_FILE": sf.CAFile(), "VMX_SALESFORCE_CLIENT_ID": "sf-client", "VMX_SALESFORCE_CLIENT_SECRET": "sf-secret",
		"VMX_SALESFORCE_DEDUPE_FIELD": "VMX_Delivery_Key__c",
	})
	s.post(t, rec)
	v := s.done(t, call.contact)
	if v.Status != "delivered" || v.Empty || len(v.Warnings) != 0 || v.Route.QueueName != "Sales" || v.Route.QueueEmail != "sales@example.com" {
		t.Fatalf("voicemail %+v, want delivered to queue Sales without warnings", v)
	}
	wavFile := s.stored(t, v)
	if got := sha(wavFile[wav.HeaderSize:]); got != v.AudioSHA {
		t.Fatalf("stored WAV's audio hashes to %s, the voicemail says %s", got, v.AudioSHA)
	}
	const received = "Mon, 05 Jan 2026 10:04 EST" // dtCallTime in America/New_York

	// Task: one task however many attempts, every attempt with the token
	// of the delivery key.
	reqs := cf.Requests(connecttest.OpStartTaskContact)
	tasks := cf.Tasks()
	token := connect.ClientToken(call.contact + ":task")
	if len(reqs) != 4 || len(tasks) != 1 || tasks[0].Requests != 2 || tasks[0].Mismatches != 0 {
		t.Fatalf("%d StartTaskContact requests, tasks %+v; want 4 requests making one task, the last answered from it", len(reqs), tasks)
	}
	for i, r := range reqs {
		if r.Body["ClientToken"] != token {
			t.Errorf("attempt %d: ClientToken %v, want %s", i+1, r.Body["ClientToken"], token)
		}
	}
	body := tasks[0].Body
	for k, want := range map[string]string{
		"InstanceId": dtInstance, "ContactFlowId": dtTaskFlow, "PreviousContactId": call.contact,
		"Name": "Voicemail from " + dtCaller,
	} {
		if body[k] != want {
			t.Errorf("task %s = %v, want %q", k, body[k], want)
		}
	}
	// No transcript (transcriber none) and no summary: nothing to describe.
	if d, ok := body["Description"]; ok {
		t.Errorf("task Description %q without a transcript", d)
	}
	refs := connecttest.References(t, body["References"])
	link := strings.TrimPrefix(refs["Playback URL"], "URL:")
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(s.url) + `/v1/media/` + call.contact + `\?`).MatchString(link) {
		t.Fatalf("Playback URL %q is not a media link of this vmx", refs["Playback URL"])
	}
	wantRefs := map[string]string{
		"Date Voicemail Received": "STRING:" + received, "Original Queue": "STRING:Sales",
		"Callback Number": "STRING:" + dtCaller, "Playback URL": "URL:" + link,
	}
	if !reflect.DeepEqual(refs, wantRefs) {
		t.Errorf("task References %v\nwant %v", refs, wantRefs)
	}
	wantAttrs := map[string]string{
		"vmx3_voicemail_contact_id": call.contact, "vmx3_callback_number": dtCaller, "vmx3_queue_arn": cf.QueueARN(dtQueue),
		"vmx3_source_queue": "Sales", "vmx3_target": "queue", "vmx3_preferred_agent_id": "NONE",
		"vmx3_datetime": received, "vmx3_media_url": link,
	}
	if got := connecttest.Strings(t, body["Attributes"]); !reflect.DeepEqual(got, wantAttrs) {
		t.Errorf("task Attributes %v\nwant %v", got, wantAttrs)
	}
	audio := fetch(t, link)
	if !bytes.Equal(audio, wavFile) {
		t.Fatalf("the playback link serves %d bytes, not the stored %d-byte WAV", len(audio), len(wavFile))
	}

	// E-mail: to the queue's address, over STARTTLS as the configured
	// user, text and HTML with the recording attached.
	msgs := mail.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d e-mails, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != "voicemail@example.com" || !slices.Equal(m.To, []string{"sales@example.com"}) || !m.TLS || m.User != "vmx" {
		t.Errorf("envelope %s → %v (TLS %v, user %q)", m.From, m.To, m.TLS, m.User)
	}
	p, err := smtptest.Parse(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if want := "multipart/mixed[multipart/alternative[text/plain text/html] audio/wav]"; p.Structure != want {
		t.Fatalf("MIME structure %s, want %s", p.Structure, want)
	}
	wantID := email.MessageID(call.contact+":email", "vmx.example.com")
	if p.Header.Get("Message-Id") != wantID || p.Header.Get(email.HeaderDelivery) != call.contact+":email" ||
		!strings.HasPrefix(p.Subject, "Voicemail from "+dtCaller+" in Sales") {
		t.Errorf("Message-Id %q, %s %q, subject %q", p.Header.Get("Message-Id"), email.HeaderDelivery, p.Header.Get(email.HeaderDelivery), p.Subject)
	}
	for _, want := range []string{"Received:   Mon, Jan 5, 2026 at 10:04 AM EST", "Listen:     " + link, "Queue:      Sales"} {
		if !strings.Contains(p.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, p.Text)
		}
	}
	if !strings.Contains(p.HTML, strings.ReplaceAll(link, "&", "&amp;")) || !strings.Contains(p.HTML, "Mon, Jan 5, 2026 at 10:04 AM EST") {
		t.Errorf("HTML lacks the link or the time:\n%s", p.HTML)
	}
	if len(p.Files) != 1 || p.Files[0].Name != "voicemail-"+call.contact+".wav" || p.Files[0].Disposition != "attachment" {
		t.Fatalf("attachments %+v", p.Files)
	}
	if got, want := sha(p.Files[0].Data), sha(audio); got != want {
		t.Errorf("attachment SHA-256 %s, stored WAV %s", got, want)
	}

	// Webhook: signed (the receiver verified it), one delivery key.
	hooks.mu.Lock()
	if hooks.bad != 0 || len(hooks.bodies) != 1 || len(hooks.posts[call.contact]) != 1 {
		t.Errorf("webhooks: %d bad, bodies %+v", hooks.bad, hooks.bodies)
	} else if b := hooks.bodies[0]; b.DeliveryID != call.contact+":webhook" || b.MediaURL != link || b.Caller != dtCaller ||
		b.Attributes["vmx3_mode"] != "task,email,webhook,sfcase" || !b.CallTime.Equal(dtCallTime) {
		t.Errorf("webhook body %+v", b)
	}
	hooks.mu.Unlock()

	// Salesforce: one Case carrying the delivery key, after a client
	// credentials token.
	creates := sf.Creates()
	if len(creates) != 1 || creates[0].Object != "Case" || creates[0].ID == "" {
		t.Fatalf("Salesforce creates %+v", creates)
	}
	c := creates[0].Fields
	for k, want := range map[string]string{
		"Subject": "Queue voicemail for Sales from " + dtCaller, "Origin": "Phone", "SuppliedPhone": dtCaller,
		"VMX_Delivery_Key__c": call.contact + ":sfcase",
	} {
		if c[k] != want {
			t.Errorf("Case %s = %v, want %q", k, c[k], want)
		}
	}
	desc, _ := c["Description"].(string)
	for _, want := range []string{"Voicemail from " + dtCaller + ", received Mon 5 Jan 2026 10:04 EST.", "Queue: Sales",
		"Contact ID: " + call.contact, "Recording: " + link} {
		if !strings.Contains(desc, want) {
			t.Errorf("Case Description lacks %q:\n%s", want, desc)
		}
	}
	if forms := sf.TokenForms(); len(forms) != 1 || forms[0].Get("grant_type") != "client_credentials" || forms[0].Get("client_id") != "sf-client" {
		t.Errorf("token requests %v", forms)
	}

	// The flag reset, once, after the deliveries.
	resets := cf.Requests(connecttest.OpUpdateContactAttributes)
	wantReset := map[string]any{"InstanceId": dtInstance, "InitialContactId": call.contact, "Attributes": map[string]any{"vmx3_flag": "0"}}
	if len(resets) != 1 || !reflect.DeepEqual(resets[0].Body, wantReset) || resets[0].At.Before(reqs[len(reqs)-1].At) {
		t.Errorf("UpdateContactAttributes %+v, want one %v after the task", resets, wantReset)
	}

	// The receipts.
	details := map[string]string{}
	for _, r := range v.Receipts {
		if r.Key != call.contact+":"+r.Sink {
			t.Errorf("receipt %+v: key is not the delivery key", r)
		}
		details[r.Sink] = r.Detail
	}
	if len(v.Receipts) != 4 || details["task"] != tasks[0].ContactID || !strings.HasPrefix(details["email"], wantID+" ") ||
		details["webhook"] != "200 OK" || details["sfcase"] != creates[0].ID {
		t.Errorf("receipts %+v", v.Receipts)
	}
}

// Routing through Connect's directory: a voicemail left in an agent's
// personal queue goes to that agent; an unknown preferred agent, or one
// whose lookup fails, sends the voicemail to the queue with a warning kept
// on the voicemail. A mode vmx does not have fails the voicemail with an
// error that names it, and an empty recording still makes a task.
func TestDeliveryAgentRouting(t *testing.T) {
	const (
		ann = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
		joe = "1f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f1"
	)
	cf := connecttest.Start(t, connecttest.Options{})
	cf.AddQueue(connecttest.Queue{ID: dtQueue, Name: "Sales", Description: "Sales team. QVMB::sales@example.com"})
	cf.AddUser(connecttest.User{ID: ann, Username: "ann", FirstName: "Ann", LastName: "Agent", Email: "ann@example.com"})
	cf.AddUser(connecttest.User{ID: joe, Username: "jroe", FirstName: "Joe", LastName: "Roe", Email: "jroe@example.com"})
	joePath := "/users/" + dtInstance + "/" + joe
	for range 5 { // more than the SDK's attempts
		cf.FailNext(connecttest.OpDescribeUser, connecttest.Failure{Status: 500, Code: "InternalServiceException", Path: joePath})
	}
	mail := smtptest.Start(t, smtptest.Options{})
	sim := kvssim.New(kvssim.Options{})
	vmx3 := func(mode string, more ...string) map[string]string {
		a := map[string]string{"vmx3_flag": "1", "vmx3_from": dtCaller, "vmx3_lang": "en-US", "vmx3_queue_arn": cf.QueueARN(dtQueue), "vmx3_mode": mode}
		for i := 0; i+1 < len(more); i += 2 {
			a[more[i]] = more[i+1]
		}
		return a
	}
	personal := testCall{contact: "dd000000-0000-4000-8000-0000000000a1", seed: 11, queueARN: cf.AgentQueueARN(ann),
		attrs: map[string]string{"vmx_flag": "1", "vmx_from": dtCaller, "vmx_lang": "en-US", "vmx_mode": "task,email"}}
	ghost := testCall{contact: "dd000000-0000-4000-8000-0000000000a2", seed: 12,
		attrs: vmx3("task,email", "vmx3_target", "agent", "vmx3_preferred_agent", "ghost")}
	failing := testCall{contact: "dd000000-0000-4000-8000-0000000000a3", seed: 13,
		attrs: vmx3("task,email", "vmx3_target", "agent", "vmx3_preferred_agent", "jroe")}
	unknown := testCall{contact: "dd000000-0000-4000-8000-0000000000a4", seed: 14, attrs: vmx3("task,fax")}
	silent := testCall{contact: "dd000000-0000-4000-8000-0000000000a5", silent: true, attrs: vmx3("task")}
	var records [][]byte
	for _, c := range []testCall{personal, ghost, failing, unknown, silent} {
		records = append(records, c.record(t, sim))
	}
	s := serveVMX(t, sim, map[string]string{
		"VMX_DEFAULT_MODE":    "task",
		"VMX_CONNECT_ENABLED": "true", "VMX_CONNECT_ENDPOINT": cf.URL, "VMX_CONNECT_TASK_FLOW_ID": dtTaskFlow,
		"VMX_EMAIL_FROM": dtFrom, "VMX_SMTP_HOST": mail.Host, "VMX_SMTP_PORT": fmt.Sprint(mail.Port), "VMX_SMTP_TLS": "none",
	})
	s.post(t, records...)

	// taskOf returns the one task of a contact and its attributes.
	taskOf := func(t *testing.T, c testCall) (map[string]any, map[string]string) {
		t.Helper()
		tasks := tasksFor(cf, c.contact)
		if len(tasks) != 1 {
			t.Fatalf("%s: %d tasks, want 1", c.contact, len(tasks))
		}
		return tasks[0].Body, connecttest.Strings(t, tasks[0].Body["Attributes"])
	}
	mailTo := func(t *testing.T, c testCall) []string {
		t.Helper()
		msgs := mailFor(t, mail, c.contact)
		if len(msgs) != 1 {
			t.Fatalf("%s: %d e-mails, want 1", c.contact, len(msgs))
		}
		return msgs[0].To
	}
	resetOf := func(c testCall) []map[string]any {
		var out []map[string]any
		for _, r := range cf.Requests(connecttest.OpUpdateContactAttributes) {
			if r.Body["InitialContactId"] == c.contact {
				out = append(out, r.Body["Attributes"].(map[string]any))
			}
		}
		return out
	}

	t.Run("personal queue", func(t *testing.T) {
		v := s.done(t, personal.contact)
		if v.Status != "delivered" || v.Route.AgentID != ann || v.Route.AgentEmail != "ann@example.com" || len(v.Warnings) != 0 {
			t.Fatalf("voicemail %+v", v)
		}
		body, a := taskOf(t, personal)
		if body["Name"] != "Voicemail for Ann Agent (ann) from "+dtCaller || connecttest.References(t, body["References"])["Agent"] != "STRING:Ann Agent (ann)" {
			t.Errorf("task Name %v, References %v", body["Name"], body["References"])
		}
		if a["vmx_target"] != "agent" || a["vmx_preferred_agent_id"] != ann || a["vmx_agent_name"] != "Ann Agent" ||
			a["vmx_queue_arn"] != cf.AgentQueueARN(ann) || a["vmx_source_queue"] != "personal queue of Ann Agent (ann)" {
			t.Errorf("task attributes %v", a)
		}
		if to := mailTo(t, personal); !slices.Equal(to, []string{"ann@example.com"}) {
			t.Errorf("e-mail to %v, want the agent", to)
		}
		// A Voicemail Express 2 contact: its own prefix's flag is reset.
		if r := resetOf(personal); len(r) != 1 || !reflect.DeepEqual(r[0], map[string]any{"vmx_flag": "0"}) {
			t.Errorf("flag resets %v", r)
		}
	})
	t.Run("unknown preferred agent", func(t *testing.T) {
		v := s.done(t, ghost.contact)
		if want := []string{`agent "ghost" not found; routed to queue Sales`}; v.Status != "delivered" || !slices.Equal(v.Warnings, want) || v.Route.AgentID != "" {
			t.Fatalf("voicemail %+v, want delivered to the queue with warnings %q", v, want)
		}
		body, a := taskOf(t, ghost)
		if body["Name"] != "Voicemail from "+dtCaller || a["vmx3_target"] != "queue" || a["vmx3_preferred_agent_id"] != "NONE" || a["vmx3_source_queue"] != "Sales" {
			t.Errorf("task Name %v, attributes %v", body["Name"], a)
		}
		if to := mailTo(t, ghost); !slices.Equal(to, []string{"sales@example.com"}) {
			t.Errorf("e-mail to %v, want the queue's QVMB:: address", to)
		}
	})
	t.Run("agent lookup fails", func(t *testing.T) {
		v := s.done(t, failing.contact)
		if v.Status != "delivered" || len(v.Warnings) != 1 || v.Route.AgentID != "" ||
			!regexp.MustCompile(`^agent "jroe" could not be looked up \(.*InternalServiceException.*\); routed to queue Sales$`).MatchString(v.Warnings[0]) {
			t.Fatalf("voicemail %+v", v)
		}
		_, a := taskOf(t, failing)
		if a["vmx3_target"] != "queue" || a["vmx3_preferred_agent_id"] != "NONE" {
			t.Errorf("task attributes %v", a)
		}
		if to := mailTo(t, failing); !slices.Equal(to, []string{"sales@example.com"}) {
			t.Errorf("e-mail to %v, want the queue", to)
		}
		var joeReqs []connecttest.Request
		for _, r := range cf.Requests(connecttest.OpDescribeUser) {
			if r.Path == joePath {
				joeReqs = append(joeReqs, r)
			}
		}
		if len(joeReqs) == 0 || slices.ContainsFunc(joeReqs, func(r connecttest.Request) bool { return r.Status != 500 }) {
			t.Errorf("DescribeUser of jroe: %+v, want only failures", joeReqs)
		}
	})
	t.Run("unknown mode", func(t *testing.T) {
		v := s.done(t, unknown.contact)
		if v.Status != "failed" || v.FailedStep != "transcribe" || !strings.Contains(v.Error, `unknown or unconfigured delivery mode "fax"`) {
			t.Fatalf("voicemail %+v, want failed naming the mode", v)
		}
		if n := len(tasksFor(cf, unknown.contact)); n != 0 {
			t.Errorf("%d tasks for a voicemail that failed", n)
		}
		if r := resetOf(unknown); len(r) != 0 {
			t.Errorf("flag of a failed voicemail reset: %v", r)
		}
	})
	t.Run("empty voicemail", func(t *testing.T) {
		v := s.done(t, silent.contact)
		if v.Status != "delivered" || !v.Empty {
			t.Fatalf("voicemail %+v, want delivered as empty", v)
		}
		body, _ := taskOf(t, silent)
		if body["Name"] != "Voicemail from "+dtCaller+" (no speech)" || body["Description"] != "The caller did not speak." {
			t.Errorf("task Name %v, Description %v", body["Name"], body["Description"])
		}
	})
}

// E-mail through Amazon SES (aws-ses-v2-local): the message arrives with
// the recording attached.
func TestDeliveryEmailSES(t *testing.T) {
	ses := sestest.Start(t)
	sim := kvssim.New(kvssim.Options{})
	call := testCall{contact: "dd000000-0000-4000-8000-0000000000b1", seed: 21,
		attrs: map[string]string{"vmx3_flag": "1", "vmx3_from": dtCaller, "vmx3_lang": "en-US", "vmx3_email_to": "Ops <ops@example.com>"}}
	rec := call.record(t, sim)
	s := serveVMX(t, sim, map[string]string{
		"VMX_DEFAULT_MODE": "email", "VMX_EMAIL_TRANSPORT": "ses", "VMX_SES_ENDPOINT": ses.Endpoint, "VMX_EMAIL_FROM": dtFrom,
	})
	s.post(t, rec)
	v := s.done(t, call.contact)
	if v.Status != "delivered" || len(v.Receipts) != 1 {
		t.Fatalf("voicemail %+v", v)
	}
	got, err := ses.Store(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("SES got %d messages, want 1", len(got))
	}
	m := got[0]
	if len(m.Destination.To) != 1 || !strings.Contains(m.Destination.To[0], "<ops@example.com>") || !strings.Contains(m.From, "<voicemail@example.com>") ||
		!strings.HasPrefix(m.Subject, "Voicemail from "+dtCaller) || !strings.Contains(m.Body.Text, "Received:   Mon, Jan 5, 2026 at 10:04 AM EST") {
		t.Errorf("SES message from %q to %q, subject %q, text:\n%s", m.From, m.Destination.To, m.Subject, m.Body.Text)
	}
	if !strings.Contains(v.Receipts[0].Detail, "ses-message-id="+m.MessageID) {
		t.Errorf("receipt %q does not name SES message %s", v.Receipts[0].Detail, m.MessageID)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].Filename != "voicemail-"+call.contact+".wav" {
		t.Fatalf("attachments %+v", m.Attachments)
	}
	if got, want := sha(m.Attachments[0].Content), sha(s.stored(t, v)); got != want {
		t.Errorf("attachment SHA-256 %s, stored WAV %s", got, want)
	}
}
