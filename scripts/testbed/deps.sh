# shellcheck shell=bash
# Installs what the test bed needs and this machine lacks. apt-get runs only when a
# command is missing, so a prepared machine starts without touching the network.

# command-or-path -> Debian package
TB_APT_DEPS=(
  "dockerd docker.io"
  "/usr/bin/docker-registry docker-registry"
  "/usr/sbin/sshd openssh-server"
  "ssh openssh-client"
  "ssh-keygen openssh-client"
  "etcd etcd-server"
  "openssl openssl"
  "curl curl"
  "jq jq"
  "ip iproute2"
  "ps procps"
  "setsid util-linux"
  "python3 python3"
  "gcc gcc"
  "shellcheck shellcheck"
  "npm npm"
)

# GitHub's published OpenAPI description, which the fake GitHub (remote/github/githubtest)
# is checked against. Pinned; kept in the test-bed cache next to the Kubernetes binaries.
TB_OPENAPI_VERSION=23.0.2

tb_have() {
  case $1 in
    /*) [ -x "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

tb_install_deps() {
  local entry cmd pkg missing=()
  for entry in "${TB_APT_DEPS[@]}"; do
    read -r cmd pkg <<<"$entry"
    tb_have "$cmd" || missing+=("$pkg")
  done
  # The Docker CLI comes with docker.io; a machine with another dockerd may lack only it.
  if ! tb_have docker && tb_have dockerd; then missing+=(docker.io); fi
  if [ "${#missing[@]}" -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    tb_log "installing missing packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
  if ! tb_have moto_server; then
    tb_log "moto_server missing: installing moto[server] with pip"
    tb_python -m pip install --quiet 'moto[server]' >&2 ||
      tb_die "moto_server is not installed and pip could not install it (pip install 'moto[server]')" || return 1
    hash -r
    tb_have moto_server || tb_die "moto_server still not on PATH after pip install" || return 1
  fi
}

# tb_openapi installs @octokit/openapi once into the cache and exports GANTRY_TEST_OPENAPI,
# the path of its generated/api.github.com.json.
tb_openapi() {
  local cache file
  cache=${GANTRY_TESTBED_CACHE:-$HOME/.cache/gantry-testbed}/octokit-openapi-$TB_OPENAPI_VERSION
  file=$cache/node_modules/@octokit/openapi/generated/api.github.com.json
  if [ ! -s "$file" ]; then
    tb_log "installing @octokit/openapi@$TB_OPENAPI_VERSION into $cache"
    mkdir -p "$cache"
    npm install --prefix "$cache" --no-audit --no-fund --no-save --silent "@octokit/openapi@$TB_OPENAPI_VERSION" >&2 ||
      tb_die "npm could not install @octokit/openapi@$TB_OPENAPI_VERSION" || return 1
  fi
  [ -s "$file" ] || tb_die "@octokit/openapi@$TB_OPENAPI_VERSION has no generated/api.github.com.json" || return 1
  GANTRY_TEST_OPENAPI=$file
  export GANTRY_TEST_OPENAPI
}
