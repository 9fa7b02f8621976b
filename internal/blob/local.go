package blob

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path"
	"strings"
	"time"
)

// Local keeps objects as files under a directory: the object "a/b.wav" is
// the file <dir>/a/b.wav, so other tools can read the tree. Content type and
// metadata live in JSON side files under <dir>/.meta, and uploads in
// progress under <dir>/.tmp; keys never name dot files, so neither can
// collide with an object.
//
// Put writes a temporary file, syncs it and renames it into place, so
// readers see the old object or the new one, never a part. The side file is
// renamed into place just before the object, so a reader racing with an
// overwrite may see the new attributes with the old bytes.
//
// All access goes through an os.Root: neither keys nor symbolic links in the
// tree reach outside the directory.
type Local struct {
	root *os.Root
}

const (
	localMetaDir  = ".meta"
	localTmpDir   = ".tmp"
	localFileMode = 0o600
	localDirMode  = 0o700
)

// NewLocal opens, creating it if needed, the store in dir. Close releases
// the directory.
func NewLocal(dir string) (*Local, error) {
	if err := os.MkdirAll(dir, localDirMode); err != nil {
		return nil, fmt.Errorf("blob: local store: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("blob: local store: %w", err)
	}
	for _, d := range []string{localMetaDir, localTmpDir} {
		if err := root.MkdirAll(d, localDirMode); err != nil {
			return nil, errors.Join(fmt.Errorf("blob: local store: %w", err), root.Close())
		}
	}
	return &Local{root: root}, nil
}

// Close releases the store's directory.
func (l *Local) Close() error { return l.root.Close() }

type localMeta struct {
	ContentType string            `json:"contentType,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

func metaName(key string) string { return localMetaDir + "/" + key + ".json" }

// Put implements Store.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, attrs Attrs) (err error) {
	if err := checkKey("put", key); err != nil {
		return err
	}
	attrs, err = attrs.normalize()
	if err != nil {
		return err
	}
	tmp, err := l.writeTemp(ctxReader{ctx, r})
	if err != nil {
		return fmt.Errorf("blob: put %q: %w", key, err)
	}
	defer func() {
		if err != nil {
			_ = l.root.Remove(tmp)
		}
	}()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob: put %q: %w", key, err)
	}
	if attrs.ContentType == "" && len(attrs.Metadata) == 0 {
		if err := l.root.Remove(metaName(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("blob: put %q: remove metadata: %w", key, err)
		}
	} else {
		b, err := json.Marshal(localMeta(attrs))
		if err != nil {
			return fmt.Errorf("blob: put %q: %w", key, err)
		}
		mtmp, err := l.writeTemp(strings.NewReader(string(b)))
		if err != nil {
			return fmt.Errorf("blob: put %q: metadata: %w", key, err)
		}
		if err := l.rename(mtmp, metaName(key)); err != nil {
			_ = l.root.Remove(mtmp)
			return fmt.Errorf("blob: put %q: metadata: %w", key, err)
		}
	}
	if err := l.rename(tmp, key); err != nil {
		return fmt.Errorf("blob: put %q: %w", key, err)
	}
	return nil
}

// writeTemp copies r into a new synced file under .tmp and returns its name.
func (l *Local) writeTemp(r io.Reader) (name string, err error) {
	name = localTmpDir + "/" + rand.Text()
	f, err := l.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, localFileMode)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = l.root.Remove(name)
		return "", err
	}
	return name, nil
}

// rename moves a temporary file to name, creating parent directories. A
// concurrent Delete may prune a parent between MkdirAll and Rename; then it
// tries again.
func (l *Local) rename(tmp, name string) error {
	var err error
	for range 3 {
		if dir := path.Dir(name); dir != "." {
			if err = l.root.MkdirAll(dir, localDirMode); err != nil {
				return err
			}
		}
		if err = l.root.Rename(tmp, name); !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return err
}

// Open implements Store. The returned reader is an *os.File.
func (l *Local) Open(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	return l.OpenSeeker(ctx, key)
}

// OpenSeeker implements SeekOpener.
func (l *Local) OpenSeeker(ctx context.Context, key string) (io.ReadSeekCloser, Info, error) {
	f, info, err := l.open("open", key)
	if err != nil {
		return nil, Info{}, err
	}
	return f, info, nil
}

// OpenRange implements RangeOpener.
func (l *Local) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, Info, error) {
	f, info, err := l.open("open range", key)
	if err != nil {
		return nil, Info{}, err
	}
	if off < 0 || off >= info.Size {
		_ = f.Close()
		return nil, Info{}, fmt.Errorf("blob: open %q at %d of %d bytes: %w", key, off, info.Size, ErrInvalidRange)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		_ = f.Close()
		return nil, Info{}, fmt.Errorf("blob: open %q: %w", key, err)
	}
	if n < 0 {
		return f, info, nil
	}
	return readCloser{io.LimitReader(f, n), f}, info, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

func (l *Local) open(op, key string) (*os.File, Info, error) {
	if err := checkKey(op, key); err != nil {
		return nil, Info{}, err
	}
	f, err := l.root.Open(key)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, Info{}, notFound(op, key, err)
		}
		return nil, Info{}, fmt.Errorf("blob: %s %q: %w", op, key, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = notFound(op, key, fs.ErrNotExist)
	}
	var info Info
	if err == nil {
		info, err = l.info(op, key, fi)
	}
	if err != nil {
		_ = f.Close()
		return nil, Info{}, err
	}
	return f, info, nil
}

// Stat implements Store.
func (l *Local) Stat(ctx context.Context, key string) (Info, error) {
	if err := checkKey("stat", key); err != nil {
		return Info{}, err
	}
	fi, err := l.root.Stat(key)
	if err == nil && !fi.Mode().IsRegular() {
		err = fs.ErrNotExist
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Info{}, notFound("stat", key, err)
		}
		return Info{}, fmt.Errorf("blob: stat %q: %w", key, err)
	}
	return l.info("stat", key, fi)
}

func (l *Local) info(op, key string, fi fs.FileInfo) (Info, error) {
	info := Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}
	b, err := l.root.ReadFile(metaName(key))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return info, nil
	case err != nil:
		return Info{}, fmt.Errorf("blob: %s %q: metadata: %w", op, key, err)
	}
	var m localMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return Info{}, fmt.Errorf("blob: %s %q: metadata: %w", op, key, err)
	}
	info.ContentType, info.Metadata = m.ContentType, m.Metadata
	return info, nil
}

// Delete implements Store. It also removes directories the deletion leaves
// empty.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := checkKey("delete", key); err != nil {
		return err
	}
	fi, err := l.root.Lstat(key)
	if errors.Is(err, fs.ErrNotExist) || err == nil && fi.IsDir() {
		return nil
	}
	if err != nil {
		return fmt.Errorf("blob: delete %q: %w", key, err)
	}
	if err := l.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: delete %q: %w", key, err)
	}
	if err := l.root.Remove(metaName(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: delete %q: metadata: %w", key, err)
	}
	l.prune(path.Dir(key))
	l.prune(path.Dir(metaName(key)))
	return nil
}

// prune removes dir and its parents while they are empty, stopping below
// the root and the .meta directory.
func (l *Local) prune(dir string) {
	for dir != "." && dir != localMetaDir {
		if l.root.Remove(dir) != nil {
			return
		}
		dir = path.Dir(dir)
	}
}

// List implements Store, walking only the directory named by prefix's
// directory part.
func (l *Local) List(ctx context.Context, prefix string) iter.Seq2[Info, error] {
	return func(yield func(Info, error) bool) {
		if err := checkPrefix(prefix); err != nil {
			yield(Info{}, err)
			return
		}
		start, _ := splitPrefix(prefix)
		if start == "" {
			start = "."
		}
		stopped := false
		err := fs.WalkDir(l.root.FS(), start, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if p == start && errors.Is(err, fs.ErrNotExist) {
					return fs.SkipAll
				}
				if errors.Is(err, fs.ErrNotExist) {
					return nil // removed while walking
				}
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if p == "." {
				return nil
			}
			if strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				if !strings.HasPrefix(p+"/", prefix) && !strings.HasPrefix(prefix, p+"/") {
					return fs.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() || !strings.HasPrefix(p, prefix) {
				return nil
			}
			fi, err := d.Info()
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			if !yield(Info{Key: p, Size: fi.Size(), ModTime: fi.ModTime()}, nil) {
				stopped = true
				return fs.SkipAll
			}
			return nil
		})
		if err != nil && !stopped {
			yield(Info{}, fmt.Errorf("blob: list %q: %w", prefix, err))
		}
	}
}

// Chtimes sets an object's modification time, as a test of retention needs.
func (l *Local) Chtimes(key string, mtime time.Time) error {
	if err := checkKey("chtimes", key); err != nil {
		return err
	}
	if err := l.root.Chtimes(key, mtime, mtime); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return notFound("chtimes", key, err)
		}
		return fmt.Errorf("blob: chtimes %q: %w", key, err)
	}
	return nil
}

// Interface guards.
var (
	_ Store       = (*Local)(nil)
	_ RangeOpener = (*Local)(nil)
	_ SeekOpener  = (*Local)(nil)
)
