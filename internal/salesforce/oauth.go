package salesforce

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/vmx-dev/vmx/internal/retry"
)

// OAuth grant types sent to the token endpoint.
const (
	grantClientCredentials = "client_credentials"
	grantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// jwtLifetime is how long a JWT bearer assertion is valid; Salesforce
// accepts at most 3 minutes.
const jwtLifetime = 3 * time.Minute

// session is an access token and the org's REST base it is valid for.
type session struct {
	accessToken string
	instanceURL string
}

// auth fetches access tokens and caches one. Salesforce tokens carry no
// expiry in the token response (it is the org's session timeout), so the
// cached token is kept until a request answers 401.
type auth struct {
	cfg    Config
	key    *rsa.PrivateKey // JWT bearer flow only
	client *http.Client
	now    func() time.Time

	mu  sync.Mutex
	cur *session
}

// session returns the cached session, fetching one when there is none.
func (a *auth) session(ctx context.Context) (*session, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cur != nil {
		return a.cur, nil
	}
	s, err := a.fetch(ctx)
	if err != nil {
		return nil, err
	}
	a.cur = s
	return s, nil
}

// refresh replaces stale, the session a request was refused with. When
// another delivery already replaced it, that newer session is returned
// without asking for a third.
func (a *auth) refresh(ctx context.Context, stale *session) (*session, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cur != nil && a.cur != stale {
		return a.cur, nil
	}
	a.cur = nil
	s, err := a.fetch(ctx)
	if err != nil {
		return nil, err
	}
	a.cur = s
	return s, nil
}

// fetch asks the token endpoint for a new access token.
func (a *auth) fetch(ctx context.Context) (*session, error) {
	form := url.Values{"client_id": {a.cfg.ClientID}}
	if a.key != nil {
		assertion, err := signJWT(a.key, a.cfg.ClientID, a.cfg.Username, a.cfg.audience(), a.now().Add(jwtLifetime))
		if err != nil {
			return nil, retry.Permanent(fmt.Errorf("token: %w", err))
		}
		form.Set("grant_type", grantJWTBearer)
		form.Set("assertion", assertion)
	} else {
		form.Set("grant_type", grantClientCredentials)
		form.Set("client_secret", a.cfg.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.cfg.LoginURL+"/services/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, retry.Permanent(fmt.Errorf("token: %w", err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("token: read: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		msg := snippet(body)
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg = e.Error + ": " + e.Description
		}
		err := fmt.Errorf("authentication failed: %s: %s", resp.Status, msg)
		switch {
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
			return nil, retry.After(retryAfter(resp.Header, defaultUnavailableDelay), err)
		case resp.StatusCode >= 500:
			return nil, err
		}
		// invalid_client, invalid_grant, unsupported_grant_type: the
		// connected app or its credentials are wrong; retrying cannot help.
		return nil, retry.Permanent(err)
	}
	var t struct {
		AccessToken string `json:"access_token"`
		InstanceURL string `json:"instance_url"`
	}
	if err := json.Unmarshal(body, &t); err != nil {
		return nil, fmt.Errorf("token: decode response: %w", err)
	}
	if t.AccessToken == "" {
		return nil, errors.New("token: response has no access_token")
	}
	u, err := url.Parse(t.InstanceURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		// The access token is sent there: never in clear text.
		return nil, retry.Permanent(fmt.Errorf("token: instance_url %q is not an https URL", t.InstanceURL))
	}
	return &session{accessToken: t.AccessToken, instanceURL: strings.TrimRight(t.InstanceURL, "/")}, nil
}

// signJWT returns the RS256-signed assertion of the OAuth 2.0 JWT bearer
// flow (RFC 7523) as Salesforce wants it: iss the connected app's client
// id, sub the user to act as, aud the login server.
func signJWT(key *rsa.PrivateKey, iss, sub, aud string, exp time.Time) (string, error) {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims, err := json.Marshal(struct {
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
	}{iss, sub, aud, exp.Unix()})
	if err != nil {
		return "", fmt.Errorf("jwt claims: %w", err)
	}
	input := header + "." + base64.RawURLEncoding.EncodeToString(claims)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("jwt sign: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// parseRSAKey reads an unencrypted RSA private key in PKCS#1 ("RSA PRIVATE
// KEY") or PKCS#8 ("PRIVATE KEY") PEM, as openssl writes them.
func parseRSAKey(pemText string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		if _, encrypted := block.Headers["DEK-Info"]; encrypted {
			return nil, errors.New("the key is encrypted: decrypt it first (openssl rsa -in key.pem -out plain.pem)")
		}
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("the key is encrypted: decrypt it first (openssl pkcs8 -in key.pem -out plain.pem)")
	default:
		return nil, fmt.Errorf("PEM block is %q, want \"RSA PRIVATE KEY\" or \"PRIVATE KEY\"", block.Type)
	}
	if err != nil {
		return nil, err
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, want an RSA key (RS256)", key)
	}
	if rsaKey.N.BitLen() < 2048 {
		return nil, fmt.Errorf("RSA key has %d bits, want at least 2048", rsaKey.N.BitLen())
	}
	return rsaKey, nil
}
