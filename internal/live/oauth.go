package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// tokenSource fetches and caches OAuth 2.0 access tokens with the client
// credentials grant. One fetch runs at a time; senders waiting for it get
// its token.
type tokenSource struct {
	cfg    OAuth2Config
	client *http.Client
	now    func() time.Time

	mu      sync.Mutex
	tok     string
	expires time.Time
}

func newTokenSource(cfg OAuth2Config, client *http.Client) *tokenSource {
	return &tokenSource{cfg: cfg, client: client, now: time.Now}
}

// token returns a cached token valid for a while yet, or fetches one.
func (t *tokenSource) token(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok != "" && t.now().Before(t.expires) {
		return t.tok, nil
	}
	tok, life, err := t.fetch(ctx)
	if err != nil {
		return "", err
	}
	// Refresh early, so that a token does not expire on its way.
	margin := min(life/10, 30*time.Second)
	t.tok, t.expires = tok, t.now().Add(life-margin)
	return tok, nil
}

// invalidate forgets the cached token.
func (t *tokenSource) invalidate() {
	t.mu.Lock()
	t.tok = ""
	t.mu.Unlock()
}

func (t *tokenSource) fetch(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(t.cfg.Scopes) > 0 {
		form.Set("scope", strings.Join(t.cfg.Scopes, " "))
	}
	if t.cfg.Audience != "" {
		form.Set("audience", t.cfg.Audience)
	}
	if t.cfg.InBody {
		form.Set("client_id", t.cfg.ClientID)
		form.Set("client_secret", t.cfg.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("oauth2 token: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if !t.cfg.InBody {
		// RFC 6749 §2.3.1: both parts form-encoded before Basic.
		req.SetBasicAuth(url.QueryEscape(t.cfg.ClientID), url.QueryEscape(t.cfg.ClientSecret))
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("oauth2 token: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, fmt.Errorf("oauth2 token: %w", err)
	}
	var out struct {
		AccessToken string      `json:"access_token"`
		TokenType   string      `json:"token_type"`
		ExpiresIn   json.Number `json:"expires_in"`
		Error       string      `json:"error"`
		Description string      `json:"error_description"`
	}
	jerr := json.Unmarshal(body, &out)
	if resp.StatusCode != http.StatusOK {
		if out.Error != "" {
			return "", 0, fmt.Errorf("oauth2 token: status %d: %s: %s", resp.StatusCode, out.Error, out.Description)
		}
		return "", 0, fmt.Errorf("oauth2 token: status %d", resp.StatusCode)
	}
	if jerr != nil {
		return "", 0, fmt.Errorf("oauth2 token: decode: %w", jerr)
	}
	if out.AccessToken == "" {
		return "", 0, errors.New("oauth2 token: response has no access_token")
	}
	if out.TokenType != "" && !strings.EqualFold(out.TokenType, "bearer") {
		return "", 0, fmt.Errorf("oauth2 token: token_type %q is not bearer", out.TokenType)
	}
	life := time.Hour // RFC 6749 makes expires_in optional
	if out.ExpiresIn != "" {
		secs, err := out.ExpiresIn.Int64()
		if err != nil || secs <= 0 {
			return "", 0, fmt.Errorf("oauth2 token: expires_in %q is not a positive number of seconds", out.ExpiresIn)
		}
		life = time.Duration(secs) * time.Second
	}
	return out.AccessToken, life, nil
}
