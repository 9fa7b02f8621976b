package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decodeYAML applies the YAML document data, read from the file name, to
// l's Config. Every key is checked against the field table so that unknown
// keys, duplicates and values of the wrong shape are reported with their
// line, all of them rather than the first.
func (l *loader) decodeYAML(name string, data []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) {
			l.yamlError(name, err)
		}
		return
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		l.add(Problem{Source: Source{Kind: SourceFile, Name: name, Line: extra.Line},
			Message: "a second YAML document; the file must hold one", Hint: "remove the \"---\" line and what follows it, or merge the documents"})
	case !errors.Is(err, io.EOF):
		l.yamlError(name, err)
	}
	if len(doc.Content) == 0 {
		return
	}
	root := deref(doc.Content[0])
	if isNull(root) {
		return
	}
	if root.Kind != yaml.MappingNode {
		l.add(Problem{Source: Source{Kind: SourceFile, Name: name, Line: root.Line},
			Message: "the file must be a mapping of keys to values", Hint: "write one setting per line, like \"listen: 127.0.0.1:8080\""})
		return
	}
	secs := sections(l.fields)
	var top []string
	for _, f := range l.fields {
		if sec, _, ok := strings.Cut(f.path, "."); ok {
			if len(top) == 0 || top[len(top)-1] != sec {
				top = append(top, sec)
			}
		} else {
			top = append(top, f.path)
		}
	}
	l.walk(name, root, "", top, secs)
}

// walk applies the keys of the mapping n, found under prefix ("" or a
// section name); keys lists the keys allowed there.
func (l *loader) walk(name string, n *yaml.Node, prefix string, keys []string, secs map[string][]string) {
	at := func(node *yaml.Node) Source { return Source{Kind: SourceFile, Name: name, Line: node.Line} }
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			l.add(Problem{Source: at(k), Message: "a key must be a plain name", Hint: "see the configuration reference for the keys vmx knows"})
			continue
		}
		path := k.Value
		if prefix != "" {
			path = prefix + "." + k.Value
		}
		if k.Tag == "!!merge" {
			l.add(Problem{Source: at(k), Message: "merge keys (<<) are not supported", Hint: "write the keys out"})
			continue
		}
		if first, dup := seen[k.Value]; dup {
			l.add(Problem{Source: at(k), Message: fmt.Sprintf("duplicate key %q (first at line %d)", path, first), Hint: "keep one of them"})
			continue
		}
		seen[k.Value] = k.Line
		if f := l.byPath[path]; f != nil {
			l.setNode(f, v, at(k))
			continue
		}
		if children, ok := secs[path]; ok && prefix == "" {
			switch {
			case isNull(v):
			case v.Kind != yaml.MappingNode:
				l.add(Problem{Path: path, Source: at(v), Message: "must be a mapping with the keys " + strings.Join(children, ", "),
					Hint: fmt.Sprintf("indent its keys below it, like \"%s:\\n  %s: …\"", path, children[0])})
			default:
				l.walk(name, v, path, children, secs)
			}
			continue
		}
		l.unknownKey(at(k), prefix, k.Value, keys)
	}
}

// unknownKey reports key under prefix, suggesting the nearest known one.
func (l *loader) unknownKey(src Source, prefix, key string, keys []string) {
	full := key
	if prefix != "" {
		full = prefix + "." + key
	}
	msg := fmt.Sprintf("unknown key %q", full)
	hint := "remove it, or see the configuration reference for the keys vmx knows"
	norm := strings.ToLower(strings.ReplaceAll(key, "-", "_"))
	flat := ""
	if prefix == "" {
		// webhook_url or VMX_WEBHOOK_URL written where webhook: {url: …} belongs.
		for _, f := range l.fields {
			under := strings.ReplaceAll(f.path, ".", "_")
			if strings.Contains(f.path, ".") && (norm == under || slices.Contains(f.env, strings.ToUpper(key))) {
				flat = f.path
				break
			}
		}
	}
	switch {
	case flat != "":
		sec, child, _ := strings.Cut(flat, ".")
		msg += fmt.Sprintf(" (did you mean %q?)", flat)
		hint = fmt.Sprintf("nest it: \"%s:\" with \"%s:\" indented below it", sec, child)
	default:
		if s := suggest(norm, keys); s != "" {
			if prefix != "" {
				s = prefix + "." + s
			}
			msg += fmt.Sprintf(" (did you mean %q?)", s)
			hint = "correct the spelling"
		} else if prefix == "" {
			for _, f := range l.fields {
				if slices.Contains(f.env, strings.ToUpper(key)) {
					msg += fmt.Sprintf(" (did you mean %q?)", f.path)
					hint = "the file takes keys, not environment variable names"
					break
				}
			}
		}
	}
	l.add(Problem{Source: src, Message: msg, Hint: hint})
}

// setNode applies the value node v to f.
func (l *loader) setNode(f *field, v *yaml.Node, src Source) {
	if isNull(v) {
		return // "key:" with no value leaves the default
	}
	if f.isList() && v.Kind == yaml.SequenceNode {
		items := []string{}
		for _, it := range v.Content {
			it = deref(it)
			if it.Kind != yaml.ScalarNode || isNull(it) {
				l.add(Problem{Path: f.path, Source: Source{Kind: SourceFile, Name: src.Name, Line: it.Line},
					Message: "list items must be single values", Hint: "write each item as a plain string"})
				return
			}
			items = append(items, it.Value)
		}
		f.setList(l.c, items)
		l.c.setSource(f.path, src)
		return
	}
	if v.Kind != yaml.ScalarNode {
		what := "a mapping"
		if v.Kind == yaml.SequenceNode {
			what = "a list"
		}
		l.add(Problem{Path: f.path, Source: src, Message: "must be a single value, not " + what, Hint: "write it on the key's line, like \"" + f.path[strings.LastIndex(f.path, ".")+1:] + ": VALUE\""})
		return
	}
	l.setValue(f, v.Value, src)
}

// deref follows an alias to the node it names.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 8; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// yamlError turns a YAML syntax error into a problem with its line.
func (l *loader) yamlError(name string, err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, after, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, after
			}
		}
	}
	l.add(Problem{Source: Source{Kind: SourceFile, Name: name, Line: line}, Message: "invalid YAML: " + msg,
		Hint: "fix the syntax; indent nested keys with spaces, not tabs"})
}
