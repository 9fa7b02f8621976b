package awsstatetest

import (
	"encoding/base64"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"unicode"
)

// value is an attribute value as the wire carries it: {"S":"…"},
// {"N":"…"}, {"M":{…}}…
type value = map[string]any

// checkValue reports what DynamoDB would say of a malformed value.
func checkValue(v any) *apiError {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return validation("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
	}
	if len(m) > 1 {
		return validation("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
	}
	for typ, x := range m {
		switch typ {
		case "S":
			if _, ok := x.(string); !ok {
				return serialization("S must be a string")
			}
		case "N":
			if s, ok := x.(string); !ok || !validNumber(s) {
				return validation("The parameter cannot be converted to a numeric value: %v", x)
			}
		case "B":
			s, ok := x.(string)
			if _, err := base64.StdEncoding.DecodeString(s); !ok || err != nil {
				return serialization("B must be base64")
			}
		case "BOOL":
			if _, ok := x.(bool); !ok {
				return serialization("BOOL must be a boolean")
			}
		case "NULL":
			if b, ok := x.(bool); !ok || !b {
				return validation("One or more parameter values were invalid: Null attribute value types must have the value of true")
			}
		case "M":
			mm, ok := x.(map[string]any)
			if !ok {
				return serialization("M must be an object")
			}
			for _, e := range mm {
				if err := checkValue(e); err != nil {
					return err
				}
			}
		case "L":
			l, ok := x.([]any)
			if !ok {
				return serialization("L must be an array")
			}
			for _, e := range l {
				if err := checkValue(e); err != nil {
					return err
				}
			}
		case "SS", "NS", "BS":
			l, ok := x.([]any)
			if !ok || len(l) == 0 {
				return validation("One or more parameter values were invalid: An %s set may not be empty", typ)
			}
			seen := map[string]bool{}
			for _, e := range l {
				s, ok := e.(string)
				if !ok || (typ == "NS" && !validNumber(s)) {
					return validation("One or more parameter values were invalid: bad %s member %v", typ, e)
				}
				if seen[s] {
					return validation("Input collection %v contains duplicates.", l)
				}
				seen[s] = true
			}
		default:
			return serialization("unknown attribute value type " + typ)
		}
	}
	return nil
}

func validNumber(s string) bool {
	_, ok := new(big.Rat).SetString(s)
	return ok && !strings.ContainsAny(s, "/_xXpP") && strings.TrimSpace(s) == s
}

// equal is DynamoDB's "=": values of different types differ, numbers
// compare by value.
func equal(a, b value) bool {
	if n1, ok := a["N"].(string); ok {
		n2, ok := b["N"].(string)
		if !ok {
			return false
		}
		x, _ := new(big.Rat).SetString(n1)
		y, _ := new(big.Rat).SetString(n2)
		return x != nil && y != nil && x.Cmp(y) == 0
	}
	return reflect.DeepEqual(a, b)
}

// valueSize approximates DynamoDB's item size accounting: names and
// values in bytes, numbers about a byte per two digits, a few bytes of
// overhead per map or list element.
func valueSize(v value) int {
	for typ, x := range v {
		switch typ {
		case "S":
			return len(x.(string))
		case "N":
			return len(x.(string))/2 + 1
		case "B":
			b, _ := base64.StdEncoding.DecodeString(x.(string))
			return len(b)
		case "M":
			n := 3
			for k, e := range x.(map[string]any) {
				n += len(k) + valueSize(e.(value)) + 1
			}
			return n
		case "L":
			n := 3
			for _, e := range x.([]any) {
				n += valueSize(e.(value)) + 1
			}
			return n
		case "SS", "NS", "BS":
			n := 0
			for _, e := range x.([]any) {
				n += len(e.(string))
			}
			return n
		}
	}
	return 1
}

// expressions parses the expressions of one request, tracking which of
// its names and values they use: DynamoDB refuses both undefined and
// unused ones.
type expressions struct {
	names      map[string]string
	values     map[string]value
	usedNames  map[string]bool
	usedValues map[string]bool
}

func newExpressions(names map[string]string, values map[string]value) (*expressions, *apiError) {
	if names != nil && len(names) == 0 {
		return nil, validation("ExpressionAttributeNames must not be empty")
	}
	if values != nil && len(values) == 0 {
		return nil, validation("ExpressionAttributeValues must not be empty")
	}
	for _, v := range values {
		if err := checkValue(v); err != nil {
			return nil, err
		}
	}
	return &expressions{names: names, values: values, usedNames: map[string]bool{}, usedValues: map[string]bool{}}, nil
}

// unused reports names or values no expression used.
func (x *expressions) unused() *apiError {
	for _, set := range []struct {
		param string
		keys  []string
		used  map[string]bool
	}{
		{"ExpressionAttributeNames", mapKeys(x.names), x.usedNames},
		{"ExpressionAttributeValues", mapKeys(x.values), x.usedValues},
	} {
		var left []string
		for _, k := range set.keys {
			if !set.used[k] {
				left = append(left, k)
			}
		}
		if len(left) > 0 {
			return validation("Value provided in %s unused in expressions: keys: {%s}", set.param, strings.Join(left, ", "))
		}
	}
	return nil
}

func mapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// condition is a parsed ConditionExpression; item is nil when absent.
type condition func(item map[string]value) bool

// setAction is one "path = operand" of an UpdateExpression's SET.
type setAction struct {
	attr string
	to   operand
}

// operand is an attribute of the item or an expression value.
type operand struct {
	attr string
	val  value // when attr is ""
}

func (o operand) eval(item map[string]value) (value, bool) {
	if o.attr == "" {
		return o.val, true
	}
	v, ok := item[o.attr]
	return v, ok
}

// The grammar the fake accepts, which is all awsstate sends:
//
//	condition = term { "AND" term }
//	term      = ( "attribute_exists" | "attribute_not_exists" ) "(" path ")" | operand "=" operand
//	update    = "SET" path "=" operand { "," path "=" operand }
//	operand   = path | ":value"
//	path      = name | "#name"
//
// Anything else is refused as not implemented rather than misread.

type token struct {
	kind byte // 'a' name, '#' name reference, ':' value reference, or the punctuation itself; 0 at the end
	text string
}

type parser struct {
	x    *expressions
	what string // "ConditionExpression" or "UpdateExpression"
	toks []token
	pos  int
}

func (x *expressions) parser(what, expr string) (*parser, *apiError) {
	p := &parser{x: x, what: what}
	if strings.TrimSpace(expr) == "" {
		return nil, validation("Invalid %s: The expression can not be empty;", what)
	}
	for i := 0; i < len(expr); {
		c := rune(expr[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '(' || c == ')' || c == ',' || c == '=':
			p.toks = append(p.toks, token{kind: byte(c), text: string(c)})
			i++
		case c == '#' || c == ':' || c == '_' || unicode.IsLetter(c):
			j := i + 1
			for j < len(expr) && (expr[j] == '_' || unicode.IsLetter(rune(expr[j])) || unicode.IsDigit(rune(expr[j]))) {
				j++
			}
			kind := byte('a')
			if c == '#' || c == ':' {
				kind = byte(c)
				if j == i+1 {
					return nil, validation("Invalid %s: Syntax error; token: %q", what, string(c))
				}
			}
			p.toks = append(p.toks, token{kind: kind, text: expr[i:j]})
			i = j
		default:
			return nil, notImplemented("%s %q: %q", what, expr, string(c))
		}
	}
	return p, nil
}

func (p *parser) peek() token {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return token{}
}

func (p *parser) next() token {
	t := p.peek()
	p.pos++
	return t
}

func (p *parser) expect(kind byte) *apiError {
	if t := p.next(); t.kind != kind {
		return p.syntax(t)
	}
	return nil
}

func (p *parser) syntax(t token) *apiError {
	if t.kind == 0 {
		return validation("Invalid %s: Syntax error; token: \"<EOF>\"", p.what)
	}
	return validation("Invalid %s: Syntax error; token: %q", p.what, t.text)
}

func (p *parser) keyword(t token, word string) bool {
	return t.kind == 'a' && strings.EqualFold(t.text, word)
}

// path resolves an attribute name or #reference.
func (p *parser) path() (string, *apiError) {
	t := p.next()
	switch t.kind {
	case 'a':
		return t.text, nil
	case '#':
		name, ok := p.x.names[t.text]
		if !ok {
			return "", validation("Invalid %s: An expression attribute name used in the document path is not defined; attribute name: %s", p.what, t.text)
		}
		p.x.usedNames[t.text] = true
		return name, nil
	}
	return "", p.syntax(t)
}

func (p *parser) operand() (operand, *apiError) {
	if t := p.peek(); t.kind == ':' {
		p.next()
		v, ok := p.x.values[t.text]
		if !ok {
			return operand{}, validation("Invalid %s: An expression attribute value used in expression is not defined; attribute value: %s", p.what, t.text)
		}
		p.x.usedValues[t.text] = true
		return operand{val: v}, nil
	}
	attr, err := p.path()
	return operand{attr: attr}, err
}

func (p *parser) condition() (condition, *apiError) {
	var terms []condition
	for {
		c, err := p.term()
		if err != nil {
			return nil, err
		}
		terms = append(terms, c)
		t := p.next()
		if t.kind == 0 {
			break
		}
		if !p.keyword(t, "AND") {
			if t.kind == 'a' {
				return nil, notImplemented("%s: %s", p.what, t.text)
			}
			return nil, p.syntax(t)
		}
	}
	return func(item map[string]value) bool {
		for _, c := range terms {
			if !c(item) {
				return false
			}
		}
		return true
	}, nil
}

func (p *parser) term() (condition, *apiError) {
	if t := p.peek(); t.kind == 'a' && p.pos+1 < len(p.toks) && p.toks[p.pos+1].kind == '(' {
		p.pos += 2
		exists := strings.EqualFold(t.text, "attribute_exists")
		if !exists && !strings.EqualFold(t.text, "attribute_not_exists") {
			return nil, notImplemented("%s: function %s", p.what, t.text)
		}
		attr, err := p.path()
		if err != nil {
			return nil, err
		}
		if err := p.expect(')'); err != nil {
			return nil, err
		}
		return func(item map[string]value) bool {
			_, ok := item[attr]
			return ok == exists
		}, nil
	}
	left, err := p.operand()
	if err != nil {
		return nil, err
	}
	if t := p.next(); t.kind != '=' {
		if t.kind == 0 {
			return nil, p.syntax(t)
		}
		return nil, notImplemented("%s: operator %s", p.what, t.text)
	}
	right, err := p.operand()
	if err != nil {
		return nil, err
	}
	return func(item map[string]value) bool {
		a, ok1 := left.eval(item)
		b, ok2 := right.eval(item)
		return ok1 && ok2 && equal(a, b)
	}, nil
}

func (p *parser) update() ([]setAction, *apiError) {
	if t := p.next(); !p.keyword(t, "SET") {
		if t.kind == 'a' {
			return nil, notImplemented("%s: %s", p.what, t.text)
		}
		return nil, p.syntax(t)
	}
	var actions []setAction
	for {
		attr, err := p.path()
		if err != nil {
			return nil, err
		}
		if err := p.expect('='); err != nil {
			return nil, err
		}
		to, err := p.operand()
		if err != nil {
			return nil, err
		}
		for _, a := range actions {
			if a.attr == attr {
				return nil, validation("Invalid %s: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [%s], path two: [%s]", p.what, attr, attr)
			}
		}
		actions = append(actions, setAction{attr: attr, to: to})
		t := p.next()
		if t.kind == 0 {
			return actions, nil
		}
		if t.kind != ',' {
			if t.kind == 'a' {
				return nil, notImplemented("%s: %s", p.what, t.text)
			}
			return nil, p.syntax(t)
		}
	}
}

func validation(format string, args ...any) *apiError {
	return &apiError{status: 400, typ: "com.amazon.coral.validate#ValidationException", msg: fmt.Sprintf(format, args...)}
}

func serialization(msg string) *apiError {
	return &apiError{status: 400, typ: "com.amazon.coral.service#SerializationException", msg: msg}
}

func notImplemented(format string, args ...any) *apiError {
	return validation("awsstatetest: not implemented by the fake: "+format, args...)
}
