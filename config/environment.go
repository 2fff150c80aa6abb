package config

import "fmt"

// Env names a deploy environment. Its string is what commands, audit logs and locks show.
type Env string

// The environments gantry deploys to.
const (
	EnvDev  Env = "dev"
	EnvProd Env = "prod"
)

// Envs lists every environment, in promotion order.
var Envs = []Env{EnvDev, EnvProd}

// ParseEnv reads an environment named on the command line.
func ParseEnv(s string) (Env, error) {
	for _, e := range Envs {
		if string(e) == s {
			return e, nil
		}
	}
	return "", fmt.Errorf("unknown environment %q: use dev or prod", s)
}

// String is the environment's name.
func (e Env) String() string { return string(e) }
