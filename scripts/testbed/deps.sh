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
)

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
