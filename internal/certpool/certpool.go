// Package certpool builds the CA pools vmx checks servers against when an
// operator names a CA file (a private CA, a TLS-inspecting proxy): the
// system's roots plus the file's certificates.
package certpool

import (
	"crypto/x509"
	"fmt"
	"os"
)

// WithFile returns the system's roots plus the PEM certificates in file.
// A file without any certificate is an error: a typo in a path must not
// quietly leave only the system's roots.
func WithFile(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}
