package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// pendingFile is where an output is written until commit. A regular file
// is written under a temporary name beside its final path and renamed into
// place by commit, so that a failure never leaves a partial file nor
// clobbers an existing one. A device or FIFO (/dev/stdout, a named pipe) is
// written in place: renaming over it would replace it with a regular file.
type pendingFile struct {
	// W is where to write: the file, or for a device or FIFO the file
	// without its Seek, which such files may accept yet not honour.
	W    io.Writer
	f    *os.File
	path string // the final path
	temp bool   // f is a temporary file that commit renames to path
}

func createPending(path string) (*pendingFile, error) {
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		return &pendingFile{W: struct{ io.Writer }{f}, f: f, path: path}, nil
	}
	// Renaming onto a symlink would replace the link; write its target.
	target, err := resolveLink(path)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	f, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return &pendingFile{W: f, f: f, path: target, temp: true}, nil
}

// maxLinks bounds a chain of symlinks, as the kernel's ELOOP does.
const maxLinks = 40

// resolveLink follows path while it is a symlink, even one whose target
// does not exist yet, and returns the path it ends at.
func resolveLink(path string) (string, error) {
	for range maxLinks {
		st, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) || (err == nil && st.Mode()&fs.ModeSymlink == 0) {
			return path, nil
		}
		if err != nil {
			return "", err
		}
		dest, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(path), dest)
		}
		path = dest
	}
	return "", fmt.Errorf("more than %d symlinks", maxLinks)
}

func (p *pendingFile) commit() error {
	if !p.temp {
		if err := p.f.Close(); err != nil {
			return fmt.Errorf("write %s: %w", p.path, err)
		}
		return nil
	}
	// CreateTemp makes the file private; the result is an ordinary file.
	err := errors.Join(p.f.Chmod(0o644), p.f.Close())
	if err == nil {
		err = os.Rename(p.f.Name(), p.path)
	}
	if err != nil {
		os.Remove(p.f.Name())
		return fmt.Errorf("write %s: %w", p.path, err)
	}
	return nil
}

func (p *pendingFile) abort() {
	p.f.Close()
	if p.temp {
		os.Remove(p.f.Name())
	}
}

// writeFileAtomic writes path through a pendingFile.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	p, err := createPending(path)
	if err != nil {
		return err
	}
	if err := write(p.W); err != nil {
		p.abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return p.commit()
}
