package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// loader applies one layer after another to a Config, collecting problems.
type loader struct {
	c      *Config
	fields []field
	byPath map[string]*field
	probs  Problems
}

func newLoader(c *Config) *loader {
	fs := fields()
	return &loader{c: c, fields: fs, byPath: fieldMap(fs)}
}

func (l *loader) add(p Problem) { l.probs = append(l.probs, p) }

// setValue parses raw into f and records src as its source; a value that
// does not parse is a problem and leaves the layer below in place.
func (l *loader) setValue(f *field, raw string, src Source) {
	if err := f.set(l.c, raw); err != nil {
		l.add(Problem{Path: f.path, Value: f.redact(raw), Source: src, Message: err.Error(), Hint: hintFor(f)})
		return
	}
	l.c.setSource(f.path, src)
}

// hintFor says how to write a value of f's type.
func hintFor(f *field) string {
	switch f.ptr(&Config{}).(type) {
	case *int:
		return "write digits only, e.g. 10"
	case *bool:
		return "write true or false"
	case *time.Duration:
		return "Go duration syntax (ms, s, m, h) plus d for days: 30s, 10m, 1h30m, 7d"
	}
	return ""
}

// applyEnv reads each setting's environment variables; the first one set
// wins, and an empty value counts as unset.
func (l *loader) applyEnv(getenv func(string) string) {
	for i := range l.fields {
		f := &l.fields[i]
		for _, name := range f.env {
			if v := getenv(name); v != "" {
				l.setValue(f, v, Source{Kind: SourceEnv, Name: name})
				break
			}
		}
	}
}

// ignoredEnv are VMX_ variables that are not settings but are not typos
// either.
func ignoredEnv(name string) bool {
	return name == "VMX_CONFIG" || name == "VMX_SHARED_DIR" || strings.HasPrefix(name, "VMX_TEST_")
}

// unknownEnv warns about VMX_ variables that name no setting.
func (l *loader) unknownEnv(environ []string) {
	var known []string
	for _, f := range l.fields {
		known = append(known, f.env...)
	}
	var names []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "VMX_") && !ignoredEnv(name) && !slices.Contains(known, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		msg := "unknown environment variable " + name
		if s := suggest(name, known); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
		l.add(Problem{Source: Source{Kind: SourceEnv, Name: name}, Message: msg,
			Hint: "vmx ignores it; rename or unset it", Warning: true})
	}
}

// applyFlags applies command-line values, which win over everything.
func (l *loader) applyFlags(set map[string]string) {
	var paths []string
	for p := range set {
		paths = append(paths, p)
	}
	// Table order, so problems come out in a stable order.
	order := map[string]int{}
	for i, f := range l.fields {
		order[f.path] = i
	}
	slices.SortFunc(paths, func(a, b string) int {
		oa, aok := order[a]
		ob, bok := order[b]
		switch {
		case aok && bok:
			return oa - ob
		case aok != bok:
			if aok {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	for _, p := range paths {
		f := l.byPath[p]
		if f == nil {
			l.add(Problem{Source: Source{Kind: SourceFlag, Name: p}, Message: fmt.Sprintf("unknown setting %q given as a flag", p)})
			continue
		}
		name := f.flag
		if name == "" {
			name = strings.NewReplacer(".", "-", "_", "-").Replace(p)
		}
		l.setValue(f, set[p], Source{Kind: SourceFlag, Name: name})
	}
}

// LinkSecretPath returns the file that keeps a generated link secret.
func (c *Config) LinkSecretPath() string {
	return filepath.Join(c.DataDir, "link_secret")
}

// readStoredLinkSecret uses the link secret kept in the data directory
// when no layer set one. It never writes: see EnsureLinkSecret.
func (l *loader) readStoredLinkSecret() {
	c := l.c
	if c.LinkSecret != "" || c.DataDir == "" {
		return
	}
	path := c.LinkSecretPath()
	src := Source{Kind: SourceStored, Name: path}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		c.setSource("link_secret", Source{Name: "generated into " + path + " on first start"})
		return
	}
	var data []byte
	if err == nil {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		l.add(Problem{Path: "link_secret", Source: src, Message: "cannot read the stored link secret: " + err.Error(),
			Hint: "make the file readable by vmx, or set VMX_LINK_SECRET"})
		return
	}
	c.LinkSecret = strings.TrimSpace(string(data))
	c.setSource("link_secret", src)
	if st.Mode().Perm()&0o077 != 0 {
		l.add(Problem{Path: "link_secret", Source: src, Warning: true,
			Message: fmt.Sprintf("%s is readable by other users (mode %v)", path, st.Mode().Perm()),
			Hint:    "chmod 600 " + path})
	}
}
