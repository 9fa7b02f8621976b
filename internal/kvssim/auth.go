package kvssim

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signingService is the SigV4 service name of all KVS APIs.
const signingService = "kinesisvideo"

// sigV4 is a parsed Authorization header.
type sigV4 struct {
	accessKey, date, region, service string
	signedHeaders                    string
	signature                        string
}

// parseAuthorization parses
// "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kinesisvideo/aws4_request, SignedHeaders=host;x-amz-date, Signature=hex".
func parseAuthorization(h string) (sigV4, bool) {
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		return sigV4{}, false
	}
	var a sigV4
	var cred string
	for _, field := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			return sigV4{}, false
		}
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			a.signedHeaders = v
		case "Signature":
			a.signature = v
		}
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || a.signedHeaders == "" || a.signature == "" {
		return sigV4{}, false
	}
	a.accessKey, a.date, a.region, a.service = parts[0], parts[1], parts[2], parts[3]
	return a, true
}

// verify checks the request's SigV4 signature. Without credentials it only
// checks that the request is signed for kinesisvideo; with them it signs a
// copy of the request (same signed headers, same X-Amz-Date, the body
// actually received) and compares signatures. Clock skew is not checked,
// so recorded requests and fake clocks work.
func (s *Server) verify(r *http.Request, body []byte) error {
	h := r.Header.Get("Authorization")
	if h == "" {
		return notAuthorized("missing Authorization header: requests must be signed with AWS Signature Version 4")
	}
	a, ok := parseAuthorization(h)
	if !ok {
		return notAuthorized("malformed AWS4-HMAC-SHA256 Authorization header")
	}
	if a.service != signingService {
		return notAuthorized("credential scope names service %q, want %q", a.service, signingService)
	}
	creds := s.opts.Credentials
	if creds == nil {
		return nil
	}
	if a.accessKey != creds.AccessKeyID {
		return notAuthorized("unknown access key %q", a.accessKey)
	}
	if a.region != s.opts.Region {
		return notAuthorized("credential scope names region %q, want %q", a.region, s.opts.Region)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	signingTime, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return notAuthorized("missing or malformed X-Amz-Date header %q", amzDate)
	}
	if a.date != amzDate[:8] {
		return notAuthorized("credential scope date %s does not match X-Amz-Date %s", a.date, amzDate)
	}

	u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	cp, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), nil)
	if err != nil {
		return notAuthorized("cannot rebuild the request to check its signature: %v", err)
	}
	cp.Host = r.Host
	for _, name := range strings.Split(a.signedHeaders, ";") {
		switch name {
		case "host", "x-amz-date":
		case "content-length":
			cp.ContentLength = r.ContentLength
		default:
			for _, v := range r.Header.Values(name) {
				cp.Header.Add(name, v)
			}
		}
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if r.Header.Get("X-Amz-Content-Sha256") == "UNSIGNED-PAYLOAD" {
		payloadHash = "UNSIGNED-PAYLOAD"
	}
	err = v4.NewSigner().SignHTTP(r.Context(), aws.Credentials{
		AccessKeyID:     creds.AccessKeyID,
		SecretAccessKey: creds.SecretAccessKey,
	}, cp, payloadHash, signingService, s.opts.Region, signingTime)
	if err != nil {
		return notAuthorized("cannot compute the expected signature: %v", err)
	}
	want, ok := parseAuthorization(cp.Header.Get("Authorization"))
	if !ok || want.signedHeaders != a.signedHeaders ||
		subtle.ConstantTimeCompare([]byte(want.signature), []byte(a.signature)) != 1 {
		return notAuthorized("the request signature we calculated does not match the signature you provided")
	}
	return nil
}
