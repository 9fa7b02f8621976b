package config

import (
	"flag"
	"maps"
	"strings"
)

// Flags are the command-line flags RegisterFlags added to a flag set. It
// records only the flags the user set, so that unset flags never hide the
// file or the environment.
type Flags struct {
	file string
	set  map[string]string // dotted path → value
}

// RegisterFlags adds to fs a --config flag and one flag per setting, named
// after its key (listen → --listen, webhook.url → --webhook-url,
// defaults.language → --default-language). Secrets (api_key, link_secret,
// webhook.secret) have no flag: a command line is visible to every user of
// the machine. Flag values are parsed and checked by Load, so a bad one is
// reported with the others.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{set: map[string]string{}}
	fs.StringVar(&f.file, "config", "", "YAML configuration `file` (env VMX_CONFIG)")
	for _, fd := range fields() {
		if fd.flag == "" {
			continue
		}
		usage := fd.doc
		if len(fd.env) > 0 {
			usage += " (env " + strings.Join(fd.env, ", ") + ")"
		}
		fs.Var(&flagValue{flags: f, path: fd.path, def: fd.def, isBool: fd.isBool()}, fd.flag, usage)
	}
	return f
}

// File returns the --config flag's value.
func (f *Flags) File() string { return f.file }

// Values returns the settings given as flags, by dotted key, for
// Options.Flags.
func (f *Flags) Values() map[string]string { return maps.Clone(f.set) }

// flagValue is a flag.Value that stores the raw text for Load.
type flagValue struct {
	flags  *Flags
	path   string
	def    string
	isBool bool
}

func (v *flagValue) String() string {
	if v == nil || v.flags == nil {
		return ""
	}
	if s, ok := v.flags.set[v.path]; ok {
		return s
	}
	return v.def
}

func (v *flagValue) Set(s string) error {
	v.flags.set[v.path] = s
	return nil
}

// IsBoolFlag lets a boolean be given as --kinesis-enabled without a value.
func (v *flagValue) IsBoolFlag() bool { return v.isBool }
