package config

import (
	"net/url"
	"strings"
)

// redactURL hides the secrets a URL may carry: the password, query values
// whose names look secret (token, key, sig, …) and long random-looking path
// segments (the token in a Slack or Teams webhook URL).
func redactURL(s string) string {
	const mask = "xxxxx"
	u, err := url.Parse(s)
	if err != nil {
		// Cannot tell the parts apart: hide everything that may be user info.
		if i := strings.Index(s, "://"); i >= 0 {
			if j := strings.LastIndex(s, "@"); j > i {
				return s[:i+3] + mask + s[j:]
			}
		}
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), mask)
	}
	if u.RawQuery != "" {
		q := u.Query()
		changed := false
		for k := range q {
			if secretName(k) {
				q[k] = []string{mask}
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	if u.Path != "" {
		segs := strings.Split(u.Path, "/")
		changed := false
		for i, seg := range segs {
			if looksRandom(seg) {
				segs[i] = seg[:4] + mask
				changed = true
			}
		}
		if changed {
			u.Path, u.RawPath = strings.Join(segs, "/"), ""
		}
	}
	return u.String()
}

// secretName reports whether a query parameter name suggests a secret.
func secretName(k string) bool {
	k = strings.ToLower(k)
	for _, w := range []string{"pass", "secret", "token", "key", "sig", "auth", "code", "credential"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// looksRandom reports whether a path segment looks like a token: long, with
// both letters and digits.
func looksRandom(s string) bool {
	if len(s) < 16 {
		return false
	}
	letters, digits := false, false
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits = true
		case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
			letters = true
		}
	}
	return letters && digits
}
