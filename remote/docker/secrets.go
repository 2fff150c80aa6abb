package docker

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ReadSecrets reads build secrets from their sources: "env:VAR" (the
// variable must be set) or "file:PATH" ("~/" is the home folder). Errors
// name the secret and its source, never its value.
func ReadSecrets(specs map[string]string) (map[string][]byte, error) {
	return ReadSecretsFrom(specs, os.LookupEnv)
}

// ReadSecretsFrom is ReadSecrets with "env:" sources looked up by env (the caller's
// injected environment) instead of the process environment.
func ReadSecretsFrom(specs map[string]string, env func(string) (string, bool)) (map[string][]byte, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	out := make(map[string][]byte, len(specs))
	for id, spec := range specs {
		kind, ref, _ := strings.Cut(spec, ":")
		switch kind {
		case "env":
			v, ok := env(ref)
			if !ok {
				return nil, fmt.Errorf("build secret %s: environment variable %s is not set; set it or change build.secrets.%s", id, ref, id)
			}
			out[id] = []byte(v)
		case "file":
			path := ref
			if rest, ok := strings.CutPrefix(path, "~/"); ok {
				home, err := os.UserHomeDir()
				if err != nil {
					return nil, fmt.Errorf("build secret %s: %w", id, err)
				}
				path = filepath.Join(home, rest)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("build secret %s: %w", id, err)
			}
			out[id] = data
		default:
			return nil, fmt.Errorf("build secret %s: source %q is neither env:VAR nor file:PATH", id, spec)
		}
	}
	return out, nil
}

// SecretValues are the strings a masker must hide for the secrets: each
// whole value and, for multi-line files, each line.
func SecretValues(secrets map[string][]byte) []string {
	var out []string
	for _, v := range secrets {
		s := strings.TrimSpace(string(v))
		if s == "" {
			continue
		}
		out = append(out, s)
		if strings.Contains(s, "\n") {
			for _, line := range strings.Split(s, "\n") {
				if line = strings.TrimSpace(line); len(line) >= 4 {
					out = append(out, line)
				}
			}
		}
	}
	return out
}
