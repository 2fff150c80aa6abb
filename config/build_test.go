package config

import (
	"errors"
	"strings"
	"testing"
)

func TestBuildCacheDefaults(t *testing.T) {
	cases := map[string]string{
		"": CacheOff, // embedded
		"[registry]\nkind='oci'\nhost='r:5000'\n":                               CacheRegistry,
		"[registry]\nkind='ecr'\nregion='eu-west-1'\n":                          CacheRegistry,
		"[registry]\nkind='ecr'\nregion='eu-west-1'\n[build]\ncache='inline'\n": CacheInline,
	}
	for toml, want := range cases {
		c, err := load(t, toml, nil)
		if err != nil {
			t.Fatalf("%q: %v", toml, err)
		}
		if c.Build.Cache != want {
			t.Errorf("%q: cache %q, want %q", toml, c.Build.Cache, want)
		}
	}
}

func TestBuildSecretsAndCacheValidation(t *testing.T) {
	c, err := load(t, "[build]\nsecrets = { pip_token = \"env:PIP_TOKEN\", npmrc = \"file:~/.npmrc\" }\ncache = \"local\"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Build.Secrets["pip_token"] != "env:PIP_TOKEN" || c.Build.Secrets["npmrc"] != "file:~/.npmrc" || c.Build.Cache != CacheLocal {
		t.Errorf("build %+v", c.Build)
	}
	bad := map[string]struct{ toml, field, fix string }{
		"cache mode":    {"[build]\ncache='s3'\n", "build.cache", "\"registry\""},
		"secret source": {"[build]\nsecrets={tok='PIP_TOKEN'}\n", "build.secrets.tok", "env:VAR"},
		"secret env":    {"[build]\nsecrets={tok='env:PIP-TOKEN'}\n", "build.secrets.tok", "env:PIP_TOKEN"},
		"secret id":     {"[build]\nsecrets={'a b'='env:X'}\n", "build.secrets.a b", "id=pip_token"},
	}
	for name, c := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := load(t, c.toml, nil)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.field) || !strings.Contains(err.Error(), c.fix) {
				t.Errorf("error %v should name %q and %q", err, c.field, c.fix)
			}
		})
	}
}
