package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// pendingFile is written under a temporary name beside its final path and
// renamed into place by commit, so that a failure never leaves a partial
// file nor clobbers an existing one.
type pendingFile struct {
	*os.File
	path string
}

func createPending(path string) (*pendingFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return &pendingFile{File: f, path: path}, nil
}

func (p *pendingFile) commit() error {
	// CreateTemp makes the file private; the result is an ordinary file.
	err := errors.Join(p.Chmod(0o644), p.Close())
	if err == nil {
		err = os.Rename(p.Name(), p.path)
	}
	if err != nil {
		os.Remove(p.Name())
		return fmt.Errorf("write %s: %w", p.path, err)
	}
	return nil
}

func (p *pendingFile) abort() {
	p.Close()
	os.Remove(p.Name())
}

// writeFileAtomic writes path through a pendingFile.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	p, err := createPending(path)
	if err != nil {
		return err
	}
	if err := write(p); err != nil {
		p.abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return p.commit()
}
