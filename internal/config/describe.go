package config

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"
)

// Describe writes the effective configuration: every setting with its
// value and where the value came from. Secrets are never printed, only
// whether they are set; passwords and tokens in URLs are masked.
//
//	data_dir            ./vmx-data                    default
//	listen              :9000                         flag --listen
//	api_key             (secret, 64 characters)       env VMX_API_KEY
func (c *Config) Describe(w io.Writer) error {
	file := c.file
	if file == "" {
		file = "none"
	}
	if _, err := fmt.Fprintf(w, "configuration file: %s\n\n", file); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tSOURCE")
	for _, f := range fields() {
		v := f.display(c)
		switch {
		case v == "" && f.secret:
			v = "(not set)"
		case v == "" && f.empty != "":
			v = "(empty: " + f.empty + ")"
		case v == "":
			v = `""`
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.path, v, c.Source(f.path))
	}
	return tw.Flush()
}

// Reference writes the table of settings as Markdown: key, environment
// variables, flag, default and meaning.
func Reference(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| key | environment | flag | default | meaning |\n|---|---|---|---|---|\n")
	for _, f := range fields() {
		env := "`" + strings.Join(f.env, "`, `") + "`"
		flag := "—"
		if f.flag != "" {
			flag = "`--" + f.flag + "`"
		}
		def := f.def
		if def == "" {
			def = "empty: " + f.empty
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", f.path, env, flag, mdEscape(def), mdEscape(f.doc))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "*", `\*`).Replace(s)
}

// Example writes a commented configuration file holding every setting at
// its default, all commented out: a starting point for config.yaml.
func Example(w io.Writer) error {
	c := Default()
	var b bytes.Buffer
	b.WriteString("# vmx serve configuration. Every setting is optional; the values shown are\n" +
		"# the defaults. Precedence: defaults < this file < environment < flags.\n" +
		"# Durations take Go syntax plus days: 90s, 10m, 1h30m, 7d.\n")
	section := ""
	for _, f := range fields() {
		sec, key, nested := strings.Cut(f.path, ".")
		indent := ""
		if nested {
			if sec != section {
				fmt.Fprintf(&b, "\n#%s:\n", sec)
				section = sec
			}
			indent = "  "
		} else {
			key, section = f.path, ""
			b.WriteByte('\n')
		}
		env := strings.Join(f.env, ", ")
		fmt.Fprintf(&b, "%s# %s (env %s", indent, f.doc, env)
		if f.flag != "" {
			fmt.Fprintf(&b, ", flag --%s", f.flag)
		}
		b.WriteString(")\n")
		val, err := yamlValue(&f, c)
		if err != nil {
			return err
		}
		switch {
		case f.secret || strings.Contains(f.def, "<") || f.path == "kinesis.enabled" || f.path == "jobs.workers":
			fmt.Fprintf(&b, "%s#%s:  # default: %s\n", indent, key, f.def)
		default:
			fmt.Fprintf(&b, "%s#%s: %s\n", indent, key, val)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// encodeYAML writes every setting of c as a YAML document that
// decodeYAML reads back to the same values.
func encodeYAML(c *Config) ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	secs := map[string]*yaml.Node{}
	for _, f := range fields() {
		var v yaml.Node
		if list, ok := f.ptr(c).(*[]string); ok {
			if err := v.Encode(*list); err != nil {
				return nil, err
			}
		} else {
			v = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.format(c)}
		}
		parent, key := root, f.path
		if sec, k, ok := strings.Cut(f.path, "."); ok {
			if secs[sec] == nil {
				secs[sec] = &yaml.Node{Kind: yaml.MappingNode}
				root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: sec}, secs[sec])
			}
			parent, key = secs[sec], k
		}
		parent.Content = append(parent.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, &v)
	}
	return yaml.Marshal(root)
}

// yamlValue formats f's value in c as a one-line YAML value.
func yamlValue(f *field, c *Config) (string, error) {
	scalar := func(s string) (string, error) {
		out, err := yaml.Marshal(s)
		return strings.TrimSuffix(string(out), "\n"), err
	}
	list, ok := f.ptr(c).(*[]string)
	if !ok {
		if _, str := f.ptr(c).(*string); !str {
			return f.format(c), nil // numbers, booleans and durations are plain
		}
		return scalar(f.format(c))
	}
	items := make([]string, len(*list))
	for i, it := range *list {
		var err error
		if items[i], err = scalar(it); err != nil {
			return "", err
		}
	}
	return "[" + strings.Join(items, ", ") + "]", nil
}
