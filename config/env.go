package config

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// EnvPrefix starts every override variable: GANTRY_<SECTION>_<KEY>, e.g. GANTRY_REGISTRY_HOST.
const EnvPrefix = "GANTRY_"

// EnvVar describes one environment override.
type EnvVar struct {
	Name  string // e.g. GANTRY_DEV_HOST
	Field string // e.g. dev.host
}

// EnvVars lists every override variable gantry reads, for docs and completion.
func EnvVars() []EnvVar {
	var out []EnvVar
	walk(reflect.ValueOf(&Config{}).Elem(), "", func(field string, _ reflect.Value) {
		out = append(out, EnvVar{Name: envName(field), Field: field})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func envName(field string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(field))
}

// applyEnv overrides file values with GANTRY_* variables.
func applyEnv(cfg *Config, env func(string) (string, bool)) error {
	var err error
	walk(reflect.ValueOf(cfg).Elem(), "", func(field string, v reflect.Value) {
		if err != nil {
			return
		}
		name := envName(field)
		raw, ok := env(name)
		if !ok {
			return
		}
		if e := setValue(v, raw); e != nil {
			err = &FieldError{Field: name, Problem: fmt.Sprintf("%q for %s: %v", raw, field, e), Fix: "fix or unset the variable"}
		}
	})
	return err
}

var textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

// walk visits every settable leaf field with its dotted TOML name.
func walk(v reflect.Value, prefix string, fn func(field string, v reflect.Value)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		fv := v.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			walk(fv, prefix, fn)
			continue
		}
		tag := strings.Split(f.Tag.Get("toml"), ",")[0]
		if tag == "-" || tag == "" {
			continue
		}
		name := tag
		if prefix != "" {
			name = prefix + "." + tag
		}
		if f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(textUnmarshaler) {
			walk(fv, name, fn)
			continue
		}
		if f.Type.Kind() == reflect.Map {
			continue
		}
		fn(name, fv)
	}
}

func setValue(v reflect.Value, raw string) error {
	if v.CanAddr() && v.Addr().Type().Implements(textUnmarshaler) {
		return v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(raw))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Int:
		n, err := strconv.Atoi(raw)
		if err != nil {
			return fmt.Errorf("not a whole number")
		}
		v.SetInt(int64(n))
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("not true or false")
		}
		v.SetBool(b)
	case reflect.Pointer:
		if v.Type().Elem().Kind() == reflect.Bool {
			b, err := strconv.ParseBool(raw)
			if err != nil {
				return fmt.Errorf("not true or false")
			}
			v.Set(reflect.ValueOf(&b))
			return nil
		}
		return fmt.Errorf("unsupported type")
	default:
		return fmt.Errorf("unsupported type")
	}
	return nil
}
