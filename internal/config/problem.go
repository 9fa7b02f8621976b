package config

import (
	"fmt"
	"strings"
)

// SourceKind says which layer a value came from.
type SourceKind int

// Layers, lowest precedence first. SourceStored is the link secret read
// from (or generated into) the data directory.
const (
	SourceDefault SourceKind = iota
	SourceFile
	SourceEnv
	SourceFlag
	SourceStored
)

// Source is where a setting's value came from.
type Source struct {
	Kind SourceKind
	// Name is the file path (SourceFile, SourceStored), the variable
	// (SourceEnv) or the flag without dashes (SourceFlag). For
	// SourceDefault it may say what the default was derived from.
	Name string
	// Line is the 1-based line in the file, or 0.
	Line int
}

// String formats s as "default", "config.yaml:12", "env VMX_LISTEN",
// "flag --listen" or "stored in vmx-data/link_secret".
func (s Source) String() string {
	switch s.Kind {
	case SourceFile:
		if s.Line > 0 {
			return fmt.Sprintf("%s:%d", s.Name, s.Line)
		}
		return s.Name
	case SourceEnv:
		return "env " + s.Name
	case SourceFlag:
		return "flag --" + s.Name
	case SourceStored:
		return "stored in " + s.Name
	}
	if s.Name != "" {
		return "default (" + s.Name + ")"
	}
	return "default"
}

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Path is the dotted key ("webhook.url"), or "" for a problem with the
	// file as a whole.
	Path string
	// Value is the offending value as given, or "" when it is missing or
	// secret. Passwords in URLs are redacted.
	Value string
	// Source is where the offending value came from.
	Source Source
	// Message states the rule broken: "must be an http or https URL".
	Message string
	// Hint says what to do about it; it may be empty.
	Hint string
	// Warning marks a problem that does not stop vmx from starting.
	Warning bool
}

// Error formats p on one line. A value from the file is located by the
// compiler's "file:line: " prefix, one from elsewhere by a "from" note; a
// problem with no path names its source in its message:
//
//	config.yaml:12: unknown key "webhok" (did you mean "webhook"?)
//	retention.days: must be >= 0 (got "-1" from env VMX_RETENTION_DAYS)
func (p Problem) Error() string {
	var b strings.Builder
	if p.Source.Kind == SourceFile {
		b.WriteString(p.Source.String())
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	from := ""
	if p.Path != "" && p.Source.Kind != SourceFile && p.Source.Kind != SourceDefault {
		from = p.Source.String()
	}
	switch {
	case p.Value != "" && from != "":
		fmt.Fprintf(&b, " (got %q from %s)", p.Value, from)
	case p.Value != "":
		fmt.Fprintf(&b, " (got %q)", p.Value)
	case from != "":
		fmt.Fprintf(&b, " (from %s)", from)
	}
	return b.String()
}

// Problems is every problem found in a configuration. As an error it lists
// them one per line, each followed by its hint.
type Problems []Problem

func (ps Problems) Error() string {
	var b strings.Builder
	if n := len(ps); n > 1 {
		fmt.Fprintf(&b, "%d configuration problems:\n", n)
	}
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('\n')
		}
		if p.Warning {
			b.WriteString("warning: ")
		}
		b.WriteString(p.Error())
		if p.Hint != "" {
			b.WriteString("\n\t")
			b.WriteString(p.Hint)
		}
	}
	return b.String()
}

// Errors returns the problems that are not warnings.
func (ps Problems) Errors() Problems {
	var out Problems
	for _, p := range ps {
		if !p.Warning {
			out = append(out, p)
		}
	}
	return out
}

// Warnings returns the problems that are warnings.
func (ps Problems) Warnings() Problems {
	var out Problems
	for _, p := range ps {
		if p.Warning {
			out = append(out, p)
		}
	}
	return out
}
