package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// EnsureLinkSecret makes sure c has a link secret. When no layer set one
// and the data directory holds none, it generates 32 random bytes, writes
// them hex-encoded to LinkSecretPath (mode 0600, creating data_dir with
// mode 0700) and uses them, reporting created so the caller can log it.
// Load and Resolve only read that file; vmx serve calls this at start, vmx
// config check does not. A file that appears meanwhile (another vmx
// starting at the same time) is read rather than replaced.
func (c *Config) EnsureLinkSecret() (created bool, err error) {
	if c.LinkSecret != "" {
		return false, nil
	}
	if c.DataDir == "" {
		return false, errors.New("link secret: data_dir is empty")
	}
	path := c.LinkSecretPath()
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return false, fmt.Errorf("link secret: %w", err)
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return false, fmt.Errorf("link secret: %w", err)
	}
	secret := hex.EncodeToString(buf)
	// Write under a temporary name and link it into place, so that the
	// secret is never seen half-written and an existing one is never
	// overwritten.
	tmp, err := os.CreateTemp(c.DataDir, ".link_secret-*")
	if err != nil {
		return false, fmt.Errorf("link secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(secret + "\n"); err != nil {
		tmp.Close()
		return false, fmt.Errorf("link secret: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, fmt.Errorf("link secret: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("link secret: %w", err)
	}
	err = os.Link(tmp.Name(), path)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		// No hard links here: create the file exclusively instead.
		err = writeExclusive(path, secret+"\n")
	}
	switch {
	case err == nil:
		c.LinkSecret = secret
		c.setSource("link_secret", Source{Kind: SourceStored, Name: path})
		return true, nil
	case !errors.Is(err, fs.ErrExist):
		return false, fmt.Errorf("link secret: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("link secret: %w", err)
	}
	if c.LinkSecret = strings.TrimSpace(string(data)); len(c.LinkSecret) < 32 {
		return false, fmt.Errorf("link secret: %s holds fewer than 32 characters; delete it to generate a new one", path)
	}
	c.setSource("link_secret", Source{Kind: SourceStored, Name: path})
	return false, nil
}

func writeExclusive(path, data string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
