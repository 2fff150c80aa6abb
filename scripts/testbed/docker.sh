# shellcheck shell=bash
# A private dockerd: own data-root, exec-root, socket and containerd namespace, no
# iptables, published ports on 127.0.0.1, and its default bridge network on a bridge we
# create (and delete) ourselves, so a system Docker's docker0 is never touched.

tb_docker_spawn() {
  local net16
  TB_DOCKER_SOCK="$TB_DIR/docker.sock"
  # One private 10.X.0.0/16: the default bridge takes 10.X.255.0/24, user-defined networks
  # come from 10.X.0.0/17, so on stop every bridge holding a 10.X address is ours.
  net16=$(tb_free_net16) || return 1
  echo "$net16" >"$TB_DIR/docker-net16"
  TB_BRIDGE="gtb$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
  ip link add name "$TB_BRIDGE" type bridge || return 1
  echo "$TB_BRIDGE" >>"$TB_DIR/bridges"
  ip addr add "$net16.255.1/24" dev "$TB_BRIDGE" || return 1
  ip link set "$TB_BRIDGE" up || return 1
  mkdir -p "$TB_DIR/docker/data" "$TB_DIR/docker/exec"
  tb_spawn dockerd dockerd \
    --data-root "$TB_DIR/docker/data" \
    --exec-root "$TB_DIR/docker/exec" \
    --pidfile "$TB_DIR/docker/dockerd.pid" \
    --host "unix://$TB_DOCKER_SOCK" \
    --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --ip 127.0.0.1 \
    --bridge "$TB_BRIDGE" \
    --default-address-pool "base=$net16.0.0/17,size=24" \
    --containerd-namespace "gantry-testbed-$TB_BRIDGE" \
    --containerd-plugins-namespace "gantry-testbed-$TB_BRIDGE-plugins" \
    --insecure-registry 127.0.0.0/8 \
    --shutdown-timeout 5 \
    --log-level warn
  export GANTRY_TEST_DOCKER_HOST="unix://$TB_DOCKER_SOCK"
  export DOCKER_HOST="$GANTRY_TEST_DOCKER_HOST"
}

tb_docker_wait() {
  tb_wait dockerd 60 docker -H "unix://$TB_DOCKER_SOCK" info
}

# tb_docker_prestop removes containers and user-defined networks while dockerd still runs,
# so the bridges it made for them go away with them.
tb_docker_prestop() {
  local sock="$TB_DIR/docker.sock" ids
  [ -S "$sock" ] || return 0
  docker -H "unix://$sock" info >/dev/null 2>&1 || return 0
  ids=$(docker -H "unix://$sock" ps -aq 2>/dev/null)
  # shellcheck disable=SC2086
  [ -n "$ids" ] && docker -H "unix://$sock" rm -f $ids >/dev/null 2>&1
  docker -H "unix://$sock" network prune -f >/dev/null 2>&1
  return 0
}
