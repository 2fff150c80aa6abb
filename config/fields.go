package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// fieldTypes maps every dotted key gantry.toml knows to its Go type.
func fieldTypes() map[string]reflect.Type {
	out := map[string]reflect.Type{"build.args": reflect.TypeOf(map[string]string{})}
	walk(reflect.ValueOf(&Config{}).Elem(), "", func(field string, v reflect.Value) {
		out[field] = v.Type()
	})
	return out
}

// knownKeys lists every dotted key, sorted.
func knownKeys() []string {
	var keys []string
	for k := range fieldTypes() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var durationType = reflect.TypeOf(Duration{})

// valueError says which field holds a value of the wrong type and what it takes,
// instead of the decoder's Go struct path.
func valueError(key, at string, de *toml.DecodeError) *FieldError {
	field := key
	t, ok := fieldTypes()[key]
	if !ok && strings.HasPrefix(key, "build.args.") {
		return &FieldError{Field: key, Problem: "must be a string (" + at + ")", Fix: fmt.Sprintf("quote the value, e.g. %s = \"value\"", strings.TrimPrefix(key, "build.args."))}
	}
	name := key[strings.LastIndex(key, ".")+1:]
	example := defaultOf(field)
	switch {
	case !ok:
		return &FieldError{Field: key, Problem: "has a value of the wrong type (" + at + ")", Fix: "check it against the README's configuration reference"}
	case t == durationType:
		if example == "" {
			example = "60s"
		}
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if strings.Contains(msg, "cannot decode") {
			msg = "is not a duration"
		}
		return &FieldError{Field: key, Problem: fmt.Sprintf("%s (%s)", msg, at), Fix: fmt.Sprintf("write a positive duration in quotes, e.g. %s = %q", name, example)}
	case t.Kind() == reflect.String:
		if example == "" {
			example = "…"
		}
		return &FieldError{Field: key, Problem: fmt.Sprintf("must be a string like %q (%s)", example, at), Fix: fmt.Sprintf("quote the value, e.g. %s = %q", name, example)}
	case t.Kind() == reflect.Int:
		if example == "" {
			example = "1"
		}
		return &FieldError{Field: key, Problem: fmt.Sprintf("must be a whole number like %s (%s)", example, at), Fix: fmt.Sprintf("write it without quotes, e.g. %s = %s", name, example)}
	case t.Kind() == reflect.Bool || (t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Bool):
		return &FieldError{Field: key, Problem: fmt.Sprintf("must be true or false (%s)", at), Fix: fmt.Sprintf("write %s = true or %s = false, without quotes", name, name)}
	case t.Kind() == reflect.Map:
		return &FieldError{Field: key, Problem: fmt.Sprintf("must be a table of strings (%s)", at), Fix: "write it as a [build.args] table, e.g. PIP_INDEX_URL = \"https://…\""}
	}
	return &FieldError{Field: key, Problem: "has a value of the wrong type (" + at + ")", Fix: "check it against the README's configuration reference"}
}

// nearestKey is the known key closest to key (edit distance at most 2), or "".
func nearestKey(key string) string {
	return nearest(key, knownKeys())
}

// nearest returns the candidate within edit distance 2 of s (the closest, the first
// of equals), or "".
func nearest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := levenshtein(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// UnknownEnv warns of GANTRY_* variables gantry does not read, naming the one meant
// when it is a near miss (a warning, not an error: the environment is shared).
func UnknownEnv(environ []string) []string {
	known := map[string]bool{"GANTRY_CONFIG": true, "GANTRY_DATA_DIR": true, "GANTRY_SSH_KEY": true, "GANTRY_WHO": true, "GANTRY_REGISTRY_PASSWORD": true, "GANTRY_REGISTRY_USERNAME": true}
	var names []string
	for _, v := range EnvVars() {
		known[v.Name] = true
	}
	for k := range known {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, EnvPrefix) || known[k] || strings.HasPrefix(k, "GANTRY_TEST") {
			continue
		}
		if near := nearest(k, names); near != "" {
			out = append(out, fmt.Sprintf("%s is not a gantry setting; did you mean %s?", k, near))
		} else {
			out = append(out, fmt.Sprintf("%s is not a gantry setting (see `gantry --help` and the README for the GANTRY_* variables); it is ignored", k))
		}
	}
	sort.Strings(out)
	return out
}

// findBadValue names the first key whose value the decoder could not take although it
// reported no position (a number given for a duration): it reads the document as plain
// TOML and checks each known key's value against its field's type.
func findBadValue(data []byte, name string) *FieldError {
	var doc map[string]any
	if toml.Unmarshal(data, &doc) != nil {
		return nil
	}
	types := fieldTypes()
	for _, key := range knownKeys() {
		v, ok := lookupKey(doc, strings.Split(key, "."))
		if !ok {
			continue
		}
		if _, isString := v.(string); types[key] == durationType && !isString {
			return &FieldError{Field: key, Problem: fmt.Sprintf("is not a duration: %v is a number (%s)", v, name),
				Fix: fmt.Sprintf("write a positive duration in quotes, e.g. %s = %q", key[strings.LastIndex(key, ".")+1:], orExample(defaultOf(key), "60s"))}
		}
	}
	return nil
}

func lookupKey(doc map[string]any, path []string) (any, bool) {
	var cur any = doc
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func orExample(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
