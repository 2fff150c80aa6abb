# shellcheck shell=bash
# Starts and stops the whole test bed. Source this file, then call tb_bed_start DIR and,
# on the way out, tb_stop_all. Peers start in parallel where they can; each is then
# waited for in turn and its start-up time is printed.

_tb_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TB_SCRIPTS=$_tb_here
# shellcheck source=scripts/testbed/lib.sh
. "$_tb_here/lib.sh"
# shellcheck source=scripts/testbed/deps.sh
. "$_tb_here/deps.sh"
# shellcheck source=scripts/testbed/docker.sh
. "$_tb_here/docker.sh"
# shellcheck source=scripts/testbed/registry.sh
. "$_tb_here/registry.sh"
# shellcheck source=scripts/testbed/ssh.sh
. "$_tb_here/ssh.sh"
# shellcheck source=scripts/testbed/moto.sh
. "$_tb_here/moto.sh"
# shellcheck source=scripts/testbed/k8s.sh
. "$_tb_here/k8s.sh"
# shellcheck source=scripts/testbed/tools.sh
. "$_tb_here/tools.sh"

# tb_bed_start DIR starts every peer with its state under DIR, exports the GANTRY_TEST_*
# variables and writes DIR/env. Returns non-zero (peers partly started) on failure; the
# caller's trap must run tb_stop_all.
tb_bed_start() {
  TB_DIR=$1
  export TB_DIR
  mkdir -p "$TB_DIR/logs" "$TB_DIR/shim-bin"
  : >>"$TB_DIR/pids"
  [ "$(id -u)" = 0 ] || tb_die "the test bed runs dockerd and sshd: run as root (sudo -E env PATH=\"\$PATH\" scripts/test)" || return 1
  tb_install_deps || return 1
  tb_openapi || return 1
  tb_k8s_bins || return 1
  tb_tools || return 1
  tb_log "starting peers in $TB_DIR"

  local start
  start=$(tb_now)
  tb_k8s_pki || return 1
  tb_etcd_spawn || return 1
  tb_docker_spawn || return 1
  tb_registry_spawn || return 1
  tb_ssh_spawn || return 1
  tb_bastion_spawn || return 1
  tb_moto_spawn || return 1

  tb_ready etcd etcd || return 1
  tb_apiserver_spawn || return 1
  tb_ready docker dockerd || return 1
  tb_ready registry registry || return 1
  tb_ready ssh sshd || return 1
  tb_ready bastion sshd-inner || return 1
  tb_ready moto moto || return 1
  tb_ready apiserver kube-apiserver || return 1
  tb_k8s_controllers_spawn || return 1
  tb_ready k8s kwok || return 1

  # End-to-end checks through the SSH host, the way gantry reaches its servers.
  tb_ssh "docker version --format '{{.Server.Version}}'" >/dev/null ||
    tb_die "docker on the SSH host does not reach the test dockerd" || return 1
  tb_ssh "microk8s kubectl get node gantry-node -o name" >/dev/null ||
    tb_die "microk8s shim on the SSH host does not reach the test cluster" || return 1

  export GANTRY_TEST_BED_DIR=$TB_DIR
  export GANTRY_TESTBED_REQUIRED=1
  tb_write_env
  tb_log "all peers ready in $(tb_elapsed "$start")s: ${TB_TIMINGS[*]}"
}
