// Package awsdeploy_test checks the AWS deployment artefacts: the
// CloudFormation template and the contact-flow modules it embeds.
package awsdeploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vmx-dev/vmx/internal/asr/awstranscribe"
	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/config"
	"github.com/vmx-dev/vmx/internal/recording"
)

const templateFile = "template.yaml"

// handlers are the functions the vmx bootstrap serves (its _HANDLER).
var handlers = []string{"ctr", "step", "transcribe-event", "presign", "timestamp", "recording", "media"}

// unscopable lists the only actions an identity policy may allow on
// Resource "*", each because AWS defines no resource type for it.
var unscopable = map[string]string{
	// No resource type; the statement holds it to the stack's bucket with
	// the transcribe:OutputBucketName condition.
	"transcribe:StartTranscriptionJob": "no resource type",
	// No resource type; Lambda calls it with the role to run a function in
	// a VPC.
	"ec2:DescribeNetworkInterfaces": "no resource type",
}

// pseudo are CloudFormation's pseudo parameters.
var pseudo = []string{
	"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
	"AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix",
}

// shortTags maps CloudFormation's YAML short forms to their long forms.
var shortTags = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition",
	"!Sub": "Fn::Sub", "!GetAtt": "Fn::GetAtt", "!If": "Fn::If", "!Equals": "Fn::Equals",
	"!Not": "Fn::Not", "!And": "Fn::And", "!Or": "Fn::Or", "!Select": "Fn::Select",
	"!Split": "Fn::Split", "!Join": "Fn::Join", "!FindInMap": "Fn::FindInMap",
	"!Base64": "Fn::Base64", "!GetAZs": "Fn::GetAZs", "!ImportValue": "Fn::ImportValue",
}

// decode turns a YAML node into plain values (map[string]any, []any,
// scalars), each short-form tag into its long form: !Ref X becomes
// {"Ref": "X"}, !GetAtt A.B becomes {"Fn::GetAtt": ["A", "B"]}.
func decode(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("line %d: want one document", n.Line)
		}
		return decode(n.Content[0])
	case yaml.AliasNode:
		return decode(n.Alias)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		long, ok := shortTags[n.Tag]
		if !ok {
			return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
		}
		plain := *n
		plain.Tag = ""
		if n.Kind == yaml.ScalarNode {
			plain.Tag = "!!str"
		}
		v, err := decode(&plain)
		if err != nil {
			return nil, err
		}
		if s, ok := v.(string); ok && long == "Fn::GetAtt" {
			res, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q: want Resource.Attribute", n.Line, s)
			}
			v = []any{res, attr}
		}
		return map[string]any{long: v}, nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			var k string
			if err := n.Content[i].Decode(&k); err != nil {
				return nil, fmt.Errorf("line %d: key: %w", n.Content[i].Line, err)
			}
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", n.Content[i].Line, k)
			}
			v, err := decode(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := decode(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	default:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	}
}

// parseTemplate parses a CloudFormation template in YAML.
func parseTemplate(data []byte) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	v, err := decode(&doc)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("template is a %T, not a mapping", v)
	}
	return m, nil
}

func loadTemplate(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(templateFile)
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := parseTemplate(data)
	if err != nil {
		t.Fatalf("%s: %v", templateFile, err)
	}
	return tpl
}

// section returns a top-level mapping of the template.
func section(tpl map[string]any, name string) map[string]any {
	m, _ := tpl[name].(map[string]any)
	return m
}

// resources returns the template's resources of type typ, by name.
func resources(tpl map[string]any, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for name, r := range section(tpl, "Resources") {
		if rm, ok := r.(map[string]any); ok && rm["Type"] == typ {
			out[name] = rm
		}
	}
	return out
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

// sorted returns m's keys in order, so that problems come out in a stable
// order.
func sorted[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// walk calls f on every value under v, depth first, with its path.
func walk(path string, v any, f func(path string, v any)) {
	f(path, v)
	switch x := v.(type) {
	case map[string]any:
		for _, k := range sorted(x) {
			walk(path+"."+k, x[k], f)
		}
	case []any:
		for i, e := range x {
			walk(fmt.Sprintf("%s[%d]", path, i), e, f)
		}
	}
}

// intrinsic returns the function name and argument of a one-key map such
// as {"Ref": "X"}.
func intrinsic(v any) (string, any, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", nil, false
	}
	for k, a := range m {
		if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
			return k, a, true
		}
	}
	return "", nil, false
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

// subVars returns the variables of a Fn::Sub string, ${!Literal} left out.
func subVars(s string) []string {
	var vars []string
	for _, m := range subVar.FindAllStringSubmatch(s, -1) {
		if !strings.HasPrefix(m[1], "!") {
			vars = append(vars, m[1])
		}
	}
	return vars
}

// subArgs splits the argument of Fn::Sub into its string and its
// variable map.
func subArgs(a any) (string, map[string]any) {
	switch x := a.(type) {
	case string:
		return x, nil
	case []any:
		if len(x) == 2 {
			s, _ := x[0].(string)
			vars, _ := x[1].(map[string]any)
			return s, vars
		}
	}
	return "", nil
}

// checkRefs reports every Ref, Fn::GetAtt, Fn::Sub variable, Fn::FindInMap
// map and DependsOn that names nothing the template defines. Conditions
// and Rules may refer to parameters only.
func checkRefs(tpl map[string]any) []string {
	params, res, maps := section(tpl, "Parameters"), section(tpl, "Resources"), section(tpl, "Mappings")
	isParam := func(n string) bool { _, ok := params[n]; return ok || slices.Contains(pseudo, n) }
	isRes := func(n string) bool { _, ok := res[n]; return ok }
	var probs []string
	for _, sec := range []string{"Resources", "Outputs", "Conditions", "Rules"} {
		paramsOnly := sec == "Conditions" || sec == "Rules"
		known := func(n string) bool { return isParam(n) || !paramsOnly && isRes(n) }
		walk(sec, tpl[sec], func(path string, v any) {
			fn, a, ok := intrinsic(v)
			if !ok {
				return
			}
			switch fn {
			case "Ref":
				if n, _ := a.(string); !known(n) {
					probs = append(probs, fmt.Sprintf("%s: Ref %v names no parameter or resource", path, a))
				}
			case "Fn::GetAtt":
				l, _ := a.([]any)
				if n, _ := firstString(l); paramsOnly || !isRes(n) {
					probs = append(probs, fmt.Sprintf("%s: Fn::GetAtt %v names no resource", path, a))
				}
			case "Fn::Sub":
				s, local := subArgs(a)
				for _, name := range subVars(s) {
					if _, ok := local[name]; ok {
						continue
					}
					r, _, attr := strings.Cut(name, ".")
					if attr && (paramsOnly || !isRes(r)) || !attr && !known(name) {
						probs = append(probs, fmt.Sprintf("%s: Fn::Sub variable ${%s} names nothing", path, name))
					}
				}
			case "Fn::FindInMap":
				l, _ := a.([]any)
				if n, ok := firstString(l); ok {
					if _, found := maps[n]; !found {
						probs = append(probs, fmt.Sprintf("%s: Fn::FindInMap names no mapping %q", path, n))
					}
				}
			}
		})
	}
	for _, name := range sorted(res) {
		r, _ := res[name].(map[string]any)
		deps := r["DependsOn"]
		if s, ok := deps.(string); ok {
			deps = []any{s}
		}
		l, _ := deps.([]any)
		for _, d := range l {
			if n, _ := d.(string); !isRes(n) {
				probs = append(probs, fmt.Sprintf("Resources.%s.DependsOn: %v names no resource", name, d))
			}
		}
	}
	return probs
}

func firstString(l []any) (string, bool) {
	if len(l) == 0 {
		return "", false
	}
	s, ok := l[0].(string)
	return s, ok
}

// checkConditions reports every condition a resource, an output, Fn::If
// or a Condition function uses that Conditions does not define.
func checkConditions(tpl map[string]any) []string {
	conds := section(tpl, "Conditions")
	var probs []string
	use := func(path string, c any) {
		if n, _ := c.(string); conds[n] == nil {
			probs = append(probs, fmt.Sprintf("%s: condition %v is not defined", path, c))
		}
	}
	for _, sec := range []string{"Resources", "Outputs"} {
		m := section(tpl, sec)
		for _, name := range sorted(m) {
			if r, ok := m[name].(map[string]any); ok {
				if c, ok := r["Condition"]; ok {
					use(sec+"."+name+".Condition", c)
				}
			}
		}
	}
	for _, sec := range []string{"Resources", "Outputs", "Conditions"} {
		walk(sec, tpl[sec], func(path string, v any) {
			switch fn, a, _ := intrinsic(v); fn {
			case "Fn::If":
				l, _ := a.([]any)
				if len(l) != 3 {
					probs = append(probs, fmt.Sprintf("%s: Fn::If takes 3 arguments, has %d", path, len(l)))
					return
				}
				use(path, l[0])
			case "Condition":
				use(path, a)
			}
		})
	}
	return probs
}

// checkFunctions reports Lambda functions whose Handler is not one of
// vmx's, handlers deployed other than once each, and environment
// variables vmx does not read; every function must set VMX_LOG_LEVEL.
func checkFunctions(tpl map[string]any) []string {
	known := config.EnvNames()
	var probs []string
	seen := map[string]int{}
	fns := resources(tpl, "AWS::Lambda::Function")
	for _, name := range sorted(fns) {
		p := props(fns[name])
		h, _ := p["Handler"].(string)
		if !slices.Contains(handlers, h) {
			probs = append(probs, fmt.Sprintf("%s: Handler %q is not one of %v", name, h, handlers))
		}
		seen[h]++
		env, _ := p["Environment"].(map[string]any)
		vars, _ := env["Variables"].(map[string]any)
		if _, ok := vars["VMX_LOG_LEVEL"]; !ok {
			probs = append(probs, fmt.Sprintf("%s: does not set VMX_LOG_LEVEL", name))
		}
		for _, k := range sorted(vars) {
			if !slices.Contains(known, k) {
				probs = append(probs, fmt.Sprintf("%s: environment variable %s is not one vmx reads", name, k))
			}
		}
	}
	for _, h := range handlers {
		if seen[h] != 1 {
			probs = append(probs, fmt.Sprintf("handler %q is deployed %d times, want once", h, seen[h]))
		}
	}
	return probs
}

// policy is one policy document of the template.
type policy struct {
	where    string
	identity bool // attached to a role, not a resource's own policy
	doc      any
}

// policies returns the template's IAM policy documents: roles' inline
// policies, managed policies, and bucket, queue and key policies.
func policies(tpl map[string]any) []policy {
	var out []policy
	res := section(tpl, "Resources")
	for _, name := range sorted(res) {
		r, _ := res[name].(map[string]any)
		p := props(r)
		switch r["Type"] {
		case "AWS::IAM::Role":
			l, _ := p["Policies"].([]any)
			for i, e := range l {
				m, _ := e.(map[string]any)
				out = append(out, policy{fmt.Sprintf("%s.Policies[%d]", name, i), true, m["PolicyDocument"]})
			}
		case "AWS::IAM::ManagedPolicy", "AWS::IAM::Policy":
			out = append(out, policy{name, true, p["PolicyDocument"]})
		case "AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy":
			out = append(out, policy{name, false, p["PolicyDocument"]})
		case "AWS::KMS::Key":
			out = append(out, policy{name, false, p["KeyPolicy"]})
		}
	}
	return out
}

// branches returns v, or both values of a Fn::If, without AWS::NoValue.
func branches(v any) []any {
	if fn, a, ok := intrinsic(v); ok {
		switch fn {
		case "Fn::If":
			if l, _ := a.([]any); len(l) == 3 {
				return append(branches(l[1]), branches(l[2])...)
			}
		case "Ref":
			if a == "AWS::NoValue" {
				return nil
			}
		}
	}
	return []any{v}
}

// list returns a statement field as a list: a single value becomes one
// element, Fn::If branches are both taken.
func list(v any) []any {
	var out []any
	for _, b := range branches(v) {
		if l, ok := b.([]any); ok {
			for _, e := range l {
				out = append(out, branches(e)...)
			}
		} else {
			out = append(out, b)
		}
	}
	return out
}

// checkIAM reports Allow statements granting every action ("*") or every
// action of a service ("s3:*"), using NotAction or NotResource, and
// identity statements on Resource "*" with an action AWS lets a policy
// scope to a resource (not in unscopable).
func checkIAM(tpl map[string]any) []string {
	var probs []string
	for _, p := range policies(tpl) {
		doc, _ := p.doc.(map[string]any)
		if doc == nil {
			probs = append(probs, p.where+": no policy document")
			continue
		}
		for i, st := range list(doc["Statement"]) {
			s, _ := st.(map[string]any)
			where := fmt.Sprintf("%s statement %d", p.where, i)
			if sid, ok := s["Sid"].(string); ok {
				where += " (" + sid + ")"
			}
			if s["Effect"] != "Allow" {
				continue
			}
			for _, k := range []string{"NotAction", "NotResource"} {
				if _, ok := s[k]; ok {
					probs = append(probs, fmt.Sprintf("%s: Allow with %s", where, k))
				}
			}
			var actions []string
			for _, a := range list(s["Action"]) {
				as, _ := a.(string)
				if as == "*" || strings.HasSuffix(as, ":*") {
					probs = append(probs, fmt.Sprintf("%s: action %q grants every action", where, as))
				}
				actions = append(actions, as)
			}
			if !p.identity {
				continue // a resource policy's "*" is the resource itself
			}
			if !slices.Contains(list(s["Resource"]), any("*")) {
				continue
			}
			for _, a := range actions {
				if _, ok := unscopable[a]; !ok {
					probs = append(probs, fmt.Sprintf("%s: %s on Resource \"*\"; scope it to the resources it needs", where, a))
				}
			}
		}
	}
	return probs
}

// checkPartition reports ARNs written for the aws partition only: a
// literal "arn:aws:" anywhere, or an ARN in a Fn::Sub string that does not
// start arn:${AWS::Partition}:.
func checkPartition(tpl map[string]any) []string {
	var probs []string
	walk("", tpl, func(path string, v any) {
		if s, ok := v.(string); ok && strings.Contains(s, "arn:aws:") {
			probs = append(probs, fmt.Sprintf("%s: literal arn:aws: in %q; use ${AWS::Partition}", path, s))
		}
		if fn, a, _ := intrinsic(v); fn == "Fn::Sub" {
			s, _ := subArgs(a)
			for rest := s; ; {
				i := strings.Index(rest, "arn:")
				if i < 0 {
					break
				}
				rest = rest[i+len("arn:"):]
				if !strings.HasPrefix(rest, "${AWS::Partition}:") {
					probs = append(probs, fmt.Sprintf("%s: ARN in %q does not use ${AWS::Partition}", path, s))
					break
				}
			}
		}
	})
	return probs
}

// flow is the part of the Amazon Connect flow language the checks read.
type flow struct {
	Version     string
	StartAction string
	Actions     []action
}

type action struct {
	Identifier  string
	Type        string
	Parameters  map[string]any
	Transitions struct {
		NextAction string
		Conditions []struct{ NextAction string }
		Errors     []struct{ NextAction, ErrorType string }
	}
}

// mustHandleErrors are the actions that start capturing or call out: a
// flow must say where the caller goes when they fail (Voicemail Express's
// "Set recording behavior" had no error branch).
var mustHandleErrors = []string{"InvokeLambdaFunction", "UpdateContactMediaStreamingBehavior", "UpdateContactRecordingBehavior"}

// next returns the actions a flow may go to after a, errors included.
func (a action) next() []string {
	var out []string
	if a.Transitions.NextAction != "" {
		out = append(out, a.Transitions.NextAction)
	}
	for _, c := range a.Transitions.Conditions {
		out = append(out, c.NextAction)
	}
	for _, e := range a.Transitions.Errors {
		out = append(out, e.NextAction)
	}
	return out
}

// startsCapture reports whether a begins recording the caller, or marks
// the start of the voicemail.
func (a action) startsCapture() bool {
	switch a.Type {
	case "UpdateContactMediaStreamingBehavior":
		return a.Parameters["MediaStreamingState"] == "Enabled"
	case "UpdateContactRecordingBehavior":
		b, _ := a.Parameters["RecordingBehavior"].(map[string]any)
		return b["IVRRecordingBehavior"] == "Enabled"
	case "InvokeLambdaFunction":
		return true
	}
	return false
}

// setsFlag returns the vmx3_flag value a sets, if it sets one.
func (a action) setsFlag() (string, bool) {
	if a.Type != "UpdateContactAttributes" {
		return "", false
	}
	attrs, _ := a.Parameters["Attributes"].(map[string]any)
	v, ok := attrs["vmx3_flag"].(string)
	return v, ok
}

// checkFlow reports a flow module that is not flow language JSON, a
// transition to an action that does not exist, an action nothing leads
// to, a capture or Lambda action without an error transition, and an
// error path from starting the capture that does not clear the voicemail
// flag (or sets it).
func checkFlow(name string, data []byte) []string {
	var f flow
	if err := json.Unmarshal(data, &f); err != nil {
		return []string{fmt.Sprintf("%s: %v", name, err)}
	}
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, name+": "+fmt.Sprintf(format, args...)) }
	if f.Version != "2019-10-30" {
		bad("Version %q, want 2019-10-30", f.Version)
	}
	byID := map[string]action{}
	for _, a := range f.Actions {
		if _, dup := byID[a.Identifier]; dup {
			bad("two actions are called %q", a.Identifier)
		}
		byID[a.Identifier] = a
	}
	if _, ok := byID[f.StartAction]; !ok {
		bad("StartAction %q is not an action", f.StartAction)
	}
	for _, a := range f.Actions {
		for _, n := range a.next() {
			if _, ok := byID[n]; !ok {
				bad("%s goes to %q, which is not an action", a.Identifier, n)
			}
		}
		if slices.Contains(mustHandleErrors, a.Type) && len(a.Transitions.Errors) == 0 {
			bad("%s (%s) has no error transition", a.Identifier, a.Type)
		}
		if !a.startsCapture() {
			continue
		}
		for _, e := range a.Transitions.Errors {
			cleared, set := false, false
			for _, id := range reachable(byID, e.NextAction) {
				if v, ok := byID[id].setsFlag(); ok {
					cleared = cleared || v == "0"
					set = set || v != "0"
				}
			}
			if !cleared || set {
				bad("%s: the %s path does not clear vmx3_flag (cleared %t, set %t)", a.Identifier, e.ErrorType, cleared, set)
			}
		}
	}
	seen := reachable(byID, f.StartAction)
	for _, a := range f.Actions {
		if !slices.Contains(seen, a.Identifier) {
			bad("%s cannot be reached from %s", a.Identifier, f.StartAction)
		}
	}
	return probs
}

// reachable returns the actions reachable from id, id included.
func reachable(byID map[string]action, id string) []string {
	var seen []string
	for todo := []string{id}; len(todo) > 0; {
		cur := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		a, ok := byID[cur]
		if !ok || slices.Contains(seen, cur) {
			continue
		}
		seen = append(seen, cur)
		todo = append(todo, a.next()...)
	}
	return seen
}

// flowFiles reads deploy/aws/flows/*.json, by file name.
func flowFiles(t *testing.T) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("flows", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no flows/*.json (%v)", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = data
	}
	return out
}

// checkModuleSources reports contact-flow modules whose Content is not one
// of the flow files byte for byte (as a plain string or the string of a
// Fn::Sub), and flow files no module embeds: the files are the source.
func checkModuleSources(tpl map[string]any, files map[string][]byte) []string {
	var probs []string
	used := map[string]bool{}
	mods := resources(tpl, "AWS::Connect::ContactFlowModule")
	for _, name := range sorted(mods) {
		content := props(mods[name])["Content"]
		if fn, a, ok := intrinsic(content); ok && fn == "Fn::Sub" {
			content, _ = subArgs(a)
		}
		s, _ := content.(string)
		match := ""
		for _, f := range sorted(files) {
			if bytes.Equal(files[f], []byte(s)) {
				match = f
			}
		}
		if match == "" {
			probs = append(probs, fmt.Sprintf("%s: Content is none of flows/*.json", name))
		}
		used[match] = true
	}
	for _, f := range sorted(files) {
		if !used[f] {
			probs = append(probs, fmt.Sprintf("flows/%s: no contact-flow module embeds it", f))
		}
	}
	return probs
}

func TestTemplate(t *testing.T) {
	tpl := loadTemplate(t)
	checks := map[string]func(map[string]any) []string{
		"refs":       checkRefs,
		"conditions": checkConditions,
		"functions":  checkFunctions,
		"iam":        checkIAM,
		"partition":  checkPartition,
	}
	for _, name := range sorted(checks) {
		t.Run(name, func(t *testing.T) {
			for _, p := range checks[name](tpl) {
				t.Error(p)
			}
		})
	}
	t.Run("modules", func(t *testing.T) {
		for _, p := range checkModuleSources(tpl, flowFiles(t)) {
			t.Error(p)
		}
	})
}

func TestFlows(t *testing.T) {
	files := flowFiles(t)
	for _, name := range sorted(files) {
		t.Run(name, func(t *testing.T) {
			for _, p := range checkFlow(name, files[name]) {
				t.Error(p)
			}
		})
	}
}

// TestChecksCatch shows that each check fails on a template broken the
// way it looks for.
func TestChecksCatch(t *testing.T) {
	cases := []struct {
		name   string
		check  func(map[string]any) []string
		mutate func(tpl map[string]any)
		want   string
	}{
		{"ref to nothing", checkRefs, func(tpl map[string]any) {
			props(res(tpl, "StepQueue"))["DelaySeconds"] = map[string]any{"Ref": "NoSuchParameter"}
		}, "Ref NoSuchParameter"},
		{"getatt of nothing", checkRefs, func(tpl map[string]any) {
			props(res(tpl, "CtrFunction"))["Role"] = map[string]any{"Fn::GetAtt": []any{"NoSuchRole", "Arn"}}
		}, "Fn::GetAtt [NoSuchRole Arn]"},
		{"sub variable of nothing", checkRefs, func(tpl map[string]any) {
			props(res(tpl, "CtrLogGroup"))["LogGroupName"] = map[string]any{"Fn::Sub": "/vmx/${NoSuchThing}"}
		}, "${NoSuchThing}"},
		{"resource in a condition", checkRefs, func(tpl map[string]any) {
			section(tpl, "Conditions")["Bad"] = map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "StepQueue"}, ""}}
		}, "Ref StepQueue"},
		{"depends on nothing", checkRefs, func(tpl map[string]any) {
			res(tpl, "StepQueue")["DependsOn"] = "NoSuchResource"
		}, "DependsOn"},
		{"undefined condition", checkConditions, func(tpl map[string]any) {
			res(tpl, "StepQueue")["Condition"] = "NoSuchCondition"
		}, "NoSuchCondition"},
		{"undefined condition in Fn::If", checkConditions, func(tpl map[string]any) {
			props(res(tpl, "StepQueue"))["DelaySeconds"] = map[string]any{"Fn::If": []any{"Nope", 1, 2}}
		}, "Nope"},
		{"unknown environment variable", checkFunctions, func(tpl map[string]any) {
			envOf(tpl, "StepFunction")["VMX_NO_SUCH_SETTING"] = "1"
		}, "VMX_NO_SUCH_SETTING"},
		{"no log level", checkFunctions, func(tpl map[string]any) {
			delete(envOf(tpl, "TimestampFunction"), "VMX_LOG_LEVEL")
		}, "TimestampFunction: does not set VMX_LOG_LEVEL"},
		{"unknown handler", checkFunctions, func(tpl map[string]any) {
			props(res(tpl, "MediaFunction"))["Handler"] = "bootstrap"
		}, `"bootstrap"`},
		{"star action", checkIAM, func(tpl map[string]any) {
			addStatement(tpl, "MediaRole", map[string]any{"Effect": "Allow", "Action": "*", "Resource": "arn:x"})
		}, `action "*"`},
		{"service star action", checkIAM, func(tpl map[string]any) {
			addStatement(tpl, "MediaRole", map[string]any{"Effect": "Allow", "Action": []any{"s3:*"}, "Resource": "arn:x"})
		}, `action "s3:*"`},
		{"star resource", checkIAM, func(tpl map[string]any) {
			addStatement(tpl, "MediaRole", map[string]any{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
		}, `s3:GetObject on Resource "*"`},
		{"star resource in a Fn::If", checkIAM, func(tpl map[string]any) {
			addStatement(tpl, "MediaRole", map[string]any{"Fn::If": []any{"UseVpc",
				map[string]any{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": []any{"*"}},
				map[string]any{"Ref": "AWS::NoValue"}}})
		}, `sqs:SendMessage on Resource "*"`},
		{"star action in a key policy", checkIAM, func(tpl map[string]any) {
			doc := props(res(tpl, "EncryptionKey"))["KeyPolicy"].(map[string]any)
			doc["Statement"] = append(doc["Statement"].([]any), map[string]any{"Effect": "Allow", "Action": "kms:*", "Resource": "*"})
		}, `action "kms:*"`},
		{"literal partition", checkPartition, func(tpl map[string]any) {
			props(res(tpl, "StepQueue"))["X"] = "arn:aws:s3:::bucket"
		}, "literal arn:aws:"},
		{"sub without partition", checkPartition, func(tpl map[string]any) {
			props(res(tpl, "StepQueue"))["X"] = map[string]any{"Fn::Sub": "arn:${AWS::Region}:s3:::b"}
		}, "does not use ${AWS::Partition}"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tpl := loadTemplate(t)
			if p := c.check(tpl); len(p) != 0 {
				t.Fatalf("the template fails before the change: %v", p)
			}
			c.mutate(tpl)
			p := c.check(tpl)
			if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, c.want) }) {
				t.Errorf("problems %q, want one mentioning %q", p, c.want)
			}
		})
	}
}

// TestFlowChecksCatch shows that the flow checks fail on broken flows.
func TestFlowChecksCatch(t *testing.T) {
	const ivr = "vmx-ivr-voicemail-module.json"
	cases := []struct {
		name   string
		mutate func(f map[string]any)
		want   string
	}{
		{"dangling transition", func(f map[string]any) {
			transitions(f, "Beep")["NextAction"] = "Nowhere"
		}, `goes to "Nowhere"`},
		{"lambda without error branch", func(f map[string]any) {
			delete(transitions(f, "Get voicemail start time"), "Errors")
		}, "Get voicemail start time (InvokeLambdaFunction) has no error transition"},
		{"recording without error branch", func(f map[string]any) {
			delete(transitions(f, "Start IVR recording"), "Errors")
		}, "Start IVR recording (UpdateContactRecordingBehavior) has no error transition"},
		{"error path keeps the flag", func(f map[string]any) {
			transitions(f, "Stop IVR recording after error")["NextAction"] = "Apologise"
			transitions(f, "Stop IVR recording after error")["Errors"] = []any{map[string]any{"NextAction": "Apologise", "ErrorType": "NoMatchingError"}}
		}, "does not clear vmx3_flag"},
		{"unreachable action", func(f map[string]any) {
			f["Actions"] = append(f["Actions"].([]any), map[string]any{"Identifier": "Orphan", "Type": "DisconnectParticipant", "Parameters": map[string]any{}, "Transitions": map[string]any{}})
		}, "Orphan cannot be reached"},
		{"bad start", func(f map[string]any) { f["StartAction"] = "Nope" }, `StartAction "Nope"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var f map[string]any
			if err := json.Unmarshal(flowFiles(t)[ivr], &f); err != nil {
				t.Fatal(err)
			}
			c.mutate(f)
			data, err := json.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			p := checkFlow(ivr, data)
			if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, c.want) }) {
				t.Errorf("problems %q, want one mentioning %q", p, c.want)
			}
		})
	}
	t.Run("not JSON", func(t *testing.T) {
		if p := checkFlow(ivr, []byte("{")); len(p) == 0 {
			t.Error("no problem reported")
		}
	})
	t.Run("module content drifts from its file", func(t *testing.T) {
		tpl := loadTemplate(t)
		files := flowFiles(t)
		files[ivr] = append(bytes.Clone(files[ivr]), ' ')
		p := checkModuleSources(tpl, files)
		want := []string{"IVRVoicemailModule: Content is none of flows/*.json", "flows/" + ivr + ": no contact-flow module embeds it"}
		if !slices.Equal(p, want) {
			t.Errorf("problems %q, want %q", p, want)
		}
	})
}

func res(tpl map[string]any, name string) map[string]any {
	r, _ := section(tpl, "Resources")[name].(map[string]any)
	return r
}

func envOf(tpl map[string]any, fn string) map[string]any {
	return props(res(tpl, fn))["Environment"].(map[string]any)["Variables"].(map[string]any)
}

func addStatement(tpl map[string]any, role string, st any) {
	doc := props(res(tpl, role))["Policies"].([]any)[0].(map[string]any)["PolicyDocument"].(map[string]any)
	doc["Statement"] = append(doc["Statement"].([]any), st)
}

func transitions(f map[string]any, id string) map[string]any {
	for _, a := range f["Actions"].([]any) {
		if m := a.(map[string]any); m["Identifier"] == id {
			return m["Transitions"].(map[string]any)
		}
	}
	panic("no action " + id)
}

// TestTemplateContract checks what the functions rely on: the table's key
// and expiry attribute, the event sources' retry settings, the key
// prefixes and job names vmx's code uses, and where links point.
func TestTemplateContract(t *testing.T) {
	tpl := loadTemplate(t)
	now := time.Date(2025, 9, 13, 0, 0, 0, 0, time.UTC)
	recPrefix, _, _ := strings.Cut(blob.RecordingKey(now, "c"), "/")
	txPrefix, _, _ := strings.Cut(blob.TranscriptKey(now, "c"), "/")
	jobPrefix := awstranscribe.JobName("")

	t.Run("table", func(t *testing.T) {
		p := props(res(tpl, "VoicemailTable"))
		want := map[string]any{
			"KeySchema":                        []any{map[string]any{"AttributeName": "contact_id", "KeyType": "HASH"}},
			"AttributeDefinitions":             []any{map[string]any{"AttributeName": "contact_id", "AttributeType": "S"}},
			"TimeToLiveSpecification":          map[string]any{"AttributeName": "expires_at", "Enabled": true},
			"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
			"BillingMode":                      "PAY_PER_REQUEST",
		}
		for _, k := range sorted(want) {
			if !reflect.DeepEqual(p[k], want[k]) {
				t.Errorf("%s = %v, want %v", k, p[k], want[k])
			}
		}
		if sse, _ := p["SSESpecification"].(map[string]any); sse["SSEType"] != "KMS" || sse["KMSMasterKeyId"] == nil {
			t.Errorf("SSESpecification = %v, want the stack's KMS key", sse)
		}
	})

	t.Run("ctr event source", func(t *testing.T) {
		p := props(res(tpl, "CtrEventSourceMapping"))
		if p["BisectBatchOnFunctionError"] != true || !slices.Contains(p["FunctionResponseTypes"].([]any), any("ReportBatchItemFailures")) {
			t.Errorf("BisectBatchOnFunctionError %v, FunctionResponseTypes %v", p["BisectBatchOnFunctionError"], p["FunctionResponseTypes"])
		}
		if r, _ := p["MaximumRetryAttempts"].(int); r < 1 {
			t.Errorf("MaximumRetryAttempts = %v", p["MaximumRetryAttempts"])
		}
		dest := p["DestinationConfig"].(map[string]any)["OnFailure"].(map[string]any)["Destination"]
		if !reflect.DeepEqual(dest, map[string]any{"Fn::GetAtt": []any{"CtrDeadLetterQueue", "Arn"}}) {
			t.Errorf("OnFailure destination = %v", dest)
		}
		// Each attribute generation vmx reads must get through the filter,
		// only with its flag at "1" and no agent.
		var patterns []string
		for _, f := range p["FilterCriteria"].(map[string]any)["Filters"].([]any) {
			patterns = append(patterns, f.(map[string]any)["Pattern"].(string))
		}
		for _, prefix := range config.Default().AttributePrefixes {
			found := false
			for _, pat := range patterns {
				var m struct {
					Data struct {
						Attributes map[string][]string
						Agent      []any
					}
				}
				if err := json.Unmarshal([]byte(pat), &m); err != nil {
					t.Fatalf("pattern %s: %v", pat, err)
				}
				if slices.Equal(m.Data.Attributes[prefix+"flag"], []string{"1"}) && len(m.Data.Agent) == 1 && m.Data.Agent[0] == nil {
					found = true
				}
			}
			if !found {
				t.Errorf("no filter lets %sflag=1 through: %q", prefix, patterns)
			}
		}
	})

	t.Run("step queue", func(t *testing.T) {
		q := props(res(tpl, "StepQueue"))
		fn := props(res(tpl, "StepFunction"))
		if vis, tmo := q["VisibilityTimeout"].(int), fn["Timeout"].(int); vis < tmo+60 {
			t.Errorf("VisibilityTimeout %d, want at least the function's %d s + 60", vis, tmo)
		}
		rp := q["RedrivePolicy"].(map[string]any)
		maxAttempts, _ := strconv.Atoi(envOf(tpl, "StepFunction")["VMX_JOBS_MAX_ATTEMPTS"].(string))
		if rp["maxReceiveCount"].(int) <= maxAttempts {
			t.Errorf("maxReceiveCount %v, want more than VMX_JOBS_MAX_ATTEMPTS %d so vmx marks the voicemail failed first", rp["maxReceiveCount"], maxAttempts)
		}
		esm := props(res(tpl, "StepEventSourceMapping"))
		if !slices.Contains(esm["FunctionResponseTypes"].([]any), any("ReportBatchItemFailures")) {
			t.Errorf("step FunctionResponseTypes = %v", esm["FunctionResponseTypes"])
		}
	})

	t.Run("alarms on dead-letter queues", func(t *testing.T) {
		watched := map[string]bool{}
		for _, a := range resources(tpl, "AWS::CloudWatch::Alarm") {
			for _, d := range props(a)["Dimensions"].([]any) {
				if q, ok := d.(map[string]any)["Value"].(map[string]any)["Fn::GetAtt"].([]any); ok {
					watched[q[0].(string)] = true
				}
			}
		}
		for _, q := range []string{"StepDeadLetterQueue", "CtrDeadLetterQueue"} {
			if !watched[q] {
				t.Errorf("no alarm on %s", q)
			}
		}
	})

	t.Run("key prefixes", func(t *testing.T) {
		var rules []string
		for _, r := range list(props(res(tpl, "RecordingsBucket"))["LifecycleConfiguration"].(map[string]any)["Rules"]) {
			if p, ok := r.(map[string]any)["Prefix"].(string); ok {
				rules = append(rules, p)
			}
		}
		for _, p := range []string{recPrefix + "/", txPrefix + "/"} {
			if !slices.Contains(rules, p) {
				t.Errorf("no lifecycle rule for %s (rules for %q)", p, rules)
			}
		}
		grants := statementResources(tpl, "StepRole")
		for _, want := range []string{"${RecordingsBucket.Arn}/" + recPrefix + "/*", "${RecordingsBucket.Arn}/" + txPrefix + "/*",
			"arn:${AWS::Partition}:transcribe:${AWS::Region}:${AWS::AccountId}:transcription-job/" + jobPrefix + "*"} {
			if !slices.Contains(grants, want) {
				t.Errorf("StepRole grants nothing on %s", want)
			}
		}
		if want := "${RecordingsBucket.Arn}/" + recording.DefaultKeyPrefix + "*"; !slices.Contains(statementResources(tpl, "RecordingRole"), want) {
			t.Errorf("RecordingRole grants nothing on %s", want)
		}
		pat := props(res(tpl, "TranscribeEventRule"))["EventPattern"].(map[string]any)["detail"].(map[string]any)["TranscriptionJobName"]
		if !reflect.DeepEqual(pat, []any{map[string]any{"prefix": jobPrefix}}) {
			t.Errorf("Transcribe rule matches job names %v, want prefix %s", pat, jobPrefix)
		}
	})

	t.Run("one role per function", func(t *testing.T) {
		roles := map[string]string{}
		for name, fn := range resources(tpl, "AWS::Lambda::Function") {
			role := fmt.Sprint(props(fn)["Role"])
			if other, dup := roles[role]; dup {
				t.Errorf("%s and %s share the role %s", name, other, role)
			}
			roles[role] = name
		}
	})

	t.Run("links", func(t *testing.T) {
		if a := props(res(tpl, "MediaFunctionUrl"))["AuthType"]; a != "NONE" {
			t.Errorf("media function URL AuthType %v, want NONE (the link's signature authorises)", a)
		}
		if a := props(res(tpl, "MediaHttpApi")); a["Target"] == nil || a["ProtocolType"] != "HTTP" {
			t.Errorf("media HTTP API %v, want a quick-create HTTP API targeting the media function", a)
		}
		// The function URL, or the HTTP API where function URLs do not exist.
		url := map[string]any{"Fn::If": []any{"UseHttpApi",
			map[string]any{"Fn::GetAtt": []any{"MediaHttpApi", "ApiEndpoint"}},
			map[string]any{"Fn::GetAtt": []any{"MediaFunctionUrl", "FunctionUrl"}}}}
		for _, fn := range []string{"CtrFunction", "StepFunction", "TranscribeEventFunction", "PresignFunction"} {
			if got := envOf(tpl, fn)["VMX_PUBLIC_URL"]; !reflect.DeepEqual(got, url) {
				t.Errorf("%s: VMX_PUBLIC_URL = %v, want the media endpoint's URL", fn, got)
			}
			if envOf(tpl, fn)["VMX_LAMBDA_LINK_SECRET_ARN"] == nil {
				t.Errorf("%s: no VMX_LAMBDA_LINK_SECRET_ARN", fn)
			}
		}
	})
}

// statementResources returns the Fn::Sub strings and plain strings among
// the resources a role's inline policies grant.
func statementResources(tpl map[string]any, role string) []string {
	var out []string
	for _, p := range props(res(tpl, role))["Policies"].([]any) {
		doc := p.(map[string]any)["PolicyDocument"].(map[string]any)
		for _, st := range list(doc["Statement"]) {
			for _, r := range list(st.(map[string]any)["Resource"]) {
				if fn, a, ok := intrinsic(r); ok && fn == "Fn::Sub" {
					r, _ = subArgs(a)
				}
				if s, ok := r.(string); ok {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// TestFlowModules checks what each module does for the caller: the KVS
// module streams only the caller's audio, the IVR module marks the
// voicemail's start with the timestamp function before raising the flag.
func TestFlowModules(t *testing.T) {
	files := flowFiles(t)
	load := func(name string) map[string]action {
		var f flow
		if err := json.Unmarshal(files[name], &f); err != nil {
			t.Fatal(err)
		}
		m := map[string]action{}
		for _, a := range f.Actions {
			m[a.Identifier] = a
		}
		return m
	}
	kvs := load("vmx-kvs-voicemail-module.json")
	for _, a := range kvs {
		if a.Type != "UpdateContactMediaStreamingBehavior" {
			continue
		}
		want := []any{map[string]any{"ParticipantType": "Customer", "MediaDirections": []any{"From"}}}
		if !reflect.DeepEqual(a.Parameters["Participants"], want) {
			t.Errorf("kvs %s streams %v, want the caller's audio only", a.Identifier, a.Parameters["Participants"])
		}
	}
	if v, _ := kvs["Set voicemail flag"].setsFlag(); v != "1" || kvs["Start streaming"].Transitions.NextAction != "Set voicemail flag" {
		t.Errorf("kvs: the flag must be raised once streaming has started")
	}

	ivr := load("vmx-ivr-voicemail-module.json")
	ts := ivr["Get voicemail start time"]
	if ts.Parameters["LambdaFunctionARN"] != "${TimestampFunction.Arn}" ||
		!reflect.DeepEqual(ts.Parameters["ResponseValidation"], map[string]any{"ResponseType": "STRING_MAP"}) {
		t.Errorf("ivr timestamp invocation = %v", ts.Parameters)
	}
	if ivr["Start IVR recording"].Transitions.NextAction != ts.Identifier || ts.Transitions.NextAction != "Set voicemail flag" {
		t.Error("ivr: want recording on, then the timestamp, then the flag")
	}
	attrs, _ := ivr["Set voicemail flag"].Parameters["Attributes"].(map[string]any)
	if attrs["vmx3_flag"] != "1" || attrs["vmx3_timestamp"] != "$.External.vmx3_timestamp" {
		t.Errorf("ivr sets %v, want vmx3_flag 1 and vmx3_timestamp from the timestamp function", attrs)
	}
}

// TestParseTemplate checks the short forms the checks rely on.
func TestParseTemplate(t *testing.T) {
	got, err := parseTemplate([]byte(`
A: !GetAtt Res.Arn
B: !Sub ["x${V}", {V: !Ref P}]
C: !If [Cond, !Ref AWS::NoValue, [1, "yes"]]
D: !And [!Condition X, !Not [!Equals [!Join ["", !Ref L], ""]]]
E: !GetAtt [Res, Attr.Nested]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"A": map[string]any{"Fn::GetAtt": []any{"Res", "Arn"}},
		"B": map[string]any{"Fn::Sub": []any{"x${V}", map[string]any{"V": map[string]any{"Ref": "P"}}}},
		"C": map[string]any{"Fn::If": []any{"Cond", map[string]any{"Ref": "AWS::NoValue"}, []any{1, "yes"}}},
		"D": map[string]any{"Fn::And": []any{
			map[string]any{"Condition": "X"},
			map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{
				map[string]any{"Fn::Join": []any{"", map[string]any{"Ref": "L"}}}, ""}}}},
		}},
		"E": map[string]any{"Fn::GetAtt": []any{"Res", "Attr.Nested"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
	for _, bad := range []string{"A: !NoSuchFunction x\n", "A: !GetAtt NoDot\n", "A: 1\nA: 2\n"} {
		if _, err := parseTemplate([]byte(bad)); err == nil {
			t.Errorf("%q parsed without error", bad)
		}
	}
}

// TestDocs keeps docs/deploy-aws.md in step with the template: every
// parameter is described, and every VMX_ variable it names is one vmx reads.
func TestDocs(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "deploy-aws.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range sorted(section(loadTemplate(t), "Parameters")) {
		if !bytes.Contains(doc, []byte("`"+p+"`")) {
			t.Errorf("docs/deploy-aws.md does not describe parameter %s", p)
		}
	}
	known := config.EnvNames()
	for _, v := range regexp.MustCompile(`VMX_[A-Z0-9_]+`).FindAllString(string(doc), -1) {
		if !slices.Contains(known, v) {
			t.Errorf("docs/deploy-aws.md names %s, which vmx does not read", v)
		}
	}
}
