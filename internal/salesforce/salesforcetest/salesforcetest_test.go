package salesforcetest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// call makes one request with the fake's client and returns status and body.
func call(t *testing.T, s *Server, method, path, token string, body io.Reader, contentType string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServer(t *testing.T) {
	s := Start(t, Options{ClientID: "cid", ClientSecret: "sec", UniqueFields: []string{"Key__c"}})
	form := "application/x-www-form-urlencoded"
	if code, body := call(t, s, "POST", "/services/oauth2/token", "", strings.NewReader("grant_type=client_credentials&client_id=cid&client_secret=bad"), form); code != 400 || !strings.Contains(body, "invalid_client") {
		t.Fatalf("wrong secret: %d %s", code, body)
	}
	code, body := call(t, s, "POST", "/services/oauth2/token", "", strings.NewReader("grant_type=client_credentials&client_id=cid&client_secret=sec"), form)
	var tok struct {
		AccessToken string `json:"access_token"`
		InstanceURL string `json:"instance_url"`
	}
	if err := json.Unmarshal([]byte(body), &tok); err != nil || code != 200 || tok.InstanceURL != s.URL {
		t.Fatalf("token: %d %s", code, body)
	}
	create := func(fields string) (int, string) {
		return call(t, s, "POST", "/services/data/v62.0/sobjects/Case/", tok.AccessToken, strings.NewReader(fields), "application/json")
	}
	if code, body := create(`{"Subject":"a","Key__c":"o'k\\1"}`); code != 201 || !strings.Contains(body, `"id":"500000000000001AAA"`) {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body := create(`{"Subject":"b","Key__c":"o'k\\1"}`); code != 400 || !strings.Contains(body, "DUPLICATE_VALUE") {
		t.Fatalf("duplicate create: %d %s", code, body)
	}
	query := func(q string) (int, string) {
		return call(t, s, "GET", "/services/data/v62.0/query?q="+url.QueryEscape(q), tok.AccessToken, nil, "")
	}
	if code, body := query(`SELECT Id FROM Case WHERE Key__c = 'o\'k\\1' LIMIT 1`); code != 200 || !strings.Contains(body, `"totalSize":1`) {
		t.Fatalf("escaped query: %d %s", code, body)
	}
	s.AddUser(User{ID: "005A", Alias: "jdoe"})
	s.AddUser(User{ID: "005B", Alias: "jdoe", Inactive: true})
	if code, body := query(`SELECT Id FROM User WHERE Alias = 'jdoe' AND IsActive = true LIMIT 2`); code != 200 || !strings.Contains(body, `"Id":"005A"`) || strings.Contains(body, "005B") {
		t.Fatalf("user query: %d %s", code, body)
	}
	if code, body := query(`SELECT Id FROM Case WHERE Key__c LIKE 'x%' LIMIT 1`); code != 400 || !strings.Contains(body, "MALFORMED_QUERY") {
		t.Fatalf("unknown query: %d %s", code, body)
	}
	s.ExpireSession() // refused before it is read: not recorded
	if code, body := query(`SELECT Id FROM Case WHERE Key__c = 'x' LIMIT 1`); code != 401 || !strings.Contains(body, "INVALID_SESSION_ID") {
		t.Fatalf("expired session: %d %s", code, body)
	}
	if n := len(s.Creates()); n != 2 || s.Creates()[1].ID != "" || len(s.Queries()) != 3 || len(s.TokenForms()) != 2 {
		t.Errorf("recorded %d creates %+v, %d queries, %d token forms", n, s.Creates(), len(s.Queries()), len(s.TokenForms()))
	}
}
