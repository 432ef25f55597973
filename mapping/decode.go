package mapping

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Pos is a position in a mapping file. Spec structs embed it; the decoder
// fills it with the position of the node the struct was decoded from.
type Pos struct {
	Line   int `yaml:"-"`
	Column int `yaml:"-"`
}

func posOf(n *yaml.Node) Pos { return Pos{Line: n.Line, Column: n.Column} }

// nodeRewriter lets a spec type accept a shorthand form by rewriting its node
// before strict decoding.
type nodeRewriter interface {
	rewriteNode(n *yaml.Node) *yaml.Node
}

var (
	posType  = reflect.TypeOf(Pos{})
	nodeType = reflect.TypeOf(yaml.Node{})
)

// decodeStrict decodes n into v (a pointer), reporting every unknown key,
// duplicate key and type mismatch with its position and field path.
func decodeStrict(n *yaml.Node, v any, e *errs) {
	decodeValue(n, reflect.ValueOf(v).Elem(), "", e)
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

// maxAliasedValues bounds how many values one file may decode through
// aliases: generous for anchors reused a few dozen times, fatal for alias
// bombs (each level of aliases multiplies the work).
const maxAliasedValues = 100000

func decodeValue(n *yaml.Node, v reflect.Value, path string, e *errs) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
		e.inAlias++
		defer func() { e.inAlias-- }()
	}
	if e.inAlias > 0 {
		if e.aliased++; e.aliased > maxAliasedValues {
			if !e.aliasLimited {
				e.aliasLimited = true
				e.add(posOf(n), path, "aliases expand to more than %d values; use fewer anchors and aliases", maxAliasedValues)
			}
			return
		}
	}
	if v.CanAddr() {
		if r, ok := v.Addr().Interface().(nodeRewriter); ok {
			n = r.rewriteNode(n)
		}
	}
	switch v.Type() {
	case nodeType:
		v.Set(reflect.ValueOf(*n))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		decodeValue(n, v.Elem(), path, e)
	case reflect.Struct:
		decodeStruct(n, v, path, e)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			e.add(posOf(n), path, "must be a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			decodeValue(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i), e)
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			e.add(posOf(n), path, "must be a mapping, got %s", kindName(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if seen[k.Value] {
				e.add(posOf(k), join(path, k.Value), "duplicate key")
				continue
			}
			seen[k.Value] = true
			elem := reflect.New(v.Type().Elem()).Elem()
			decodeValue(val, elem, join(path, k.Value), e)
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
		}
		v.Set(m)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			e.add(posOf(n), path, "%v", err)
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	case reflect.String:
		// A literal null is the word "null" (the missing/null policies);
		// an empty value is still an error.
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Value == "null" {
			v.SetString("null")
			return
		}
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			e.add(posOf(n), path, "must be a string, got %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || err != nil {
			e.add(posOf(n), path, "must be true or false, got %s", kindName(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if n.Kind != yaml.ScalarNode || err != nil {
			e.add(posOf(n), path, "must be an integer, got %s", kindName(n))
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || err != nil {
			e.add(posOf(n), path, "must be a number, got %s", kindName(n))
			return
		}
		v.SetFloat(f)
	default:
		e.add(posOf(n), path, "unsupported type %s", v.Type())
	}
}

func decodeStruct(n *yaml.Node, v reflect.Value, path string, e *errs) {
	if n.Kind != yaml.MappingNode {
		e.add(posOf(n), path, "must be a mapping, got %s", kindName(n))
		return
	}
	t := v.Type()
	fields := map[string]int{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Type == posType && f.Anonymous {
			v.Field(i).Set(reflect.ValueOf(posOf(n)))
			continue
		}
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		fields[tag] = i
		names = append(names, tag)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		idx, ok := fields[k.Value]
		if !ok {
			e.add(posOf(k), join(path, k.Value), "unknown field (known: %s)", strings.Join(names, ", "))
			continue
		}
		if seen[k.Value] {
			e.add(posOf(k), join(path, k.Value), "duplicate key")
			continue
		}
		seen[k.Value] = true
		decodeValue(val, v.Field(idx), join(path, k.Value), e)
	}
}
