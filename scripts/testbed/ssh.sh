# shellcheck shell=bash
# OpenSSH sshd on 127.0.0.1 standing in for the EC2 host: key-only root login with our
# own host key and client key, and SetEnv so that every session's `docker` talks to the
# test dockerd, `microk8s` is our shim in $TB_DIR/shim-bin, and HOME is a folder of the
# bed's own: the host's ~/.gantry (locks, audit log) never touches the real root's home.

tb_ssh_spawn() {
  local d="$TB_DIR/ssh"
  mkdir -p "$d" "$TB_DIR/shim-bin" "$TB_DIR/ssh-home" /run/sshd
  chmod 700 "$d"
  [ -f "$d/host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C gantry-testbed-host -f "$d/host_ed25519_key"
  [ -f "$d/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C gantry-testbed-client -f "$d/id_ed25519"
  cp "$d/id_ed25519.pub" "$d/authorized_keys"
  chmod 600 "$d/authorized_keys"
  TB_SSH_PORT=$(tb_free_ports 1) || return 1
  cat >"$d/sshd_config" <<EOF
# gantry test bed sshd; nothing here is read from /etc/ssh.
ListenAddress 127.0.0.1
Port $TB_SSH_PORT
HostKey $d/host_ed25519_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
MaxStartups 100:30:200
MaxSessions 100
SetEnv HOME=$TB_DIR/ssh-home DOCKER_HOST=unix://$TB_DIR/docker.sock PATH=$TB_DIR/shim-bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LogLevel INFO
Subsystem sftp internal-sftp
EOF
  /usr/sbin/sshd -t -f "$d/sshd_config" || return 1
  tb_spawn sshd /usr/sbin/sshd -D -e -f "$d/sshd_config"
  printf '[127.0.0.1]:%s %s\n' "$TB_SSH_PORT" "$(cut -d' ' -f1,2 "$d/host_ed25519_key.pub")" >"$d/known_hosts"
  export GANTRY_TEST_SSH="127.0.0.1:$TB_SSH_PORT"
  export GANTRY_TEST_SSH_USER=root
  export GANTRY_TEST_SSH_KEY="$d/id_ed25519"
  export GANTRY_TEST_SSH_KNOWN_HOSTS="$d/known_hosts"
}

# tb_ssh RUNS a command on the SSH host the way the tests do: host key checked
# against our known_hosts, key auth only.
tb_ssh() {
  ssh -n -i "$GANTRY_TEST_SSH_KEY" -p "${GANTRY_TEST_SSH##*:}" \
    -o UserKnownHostsFile="$GANTRY_TEST_SSH_KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null \
    -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes \
    -o ConnectTimeout=5 -o LogLevel=ERROR \
    "$GANTRY_TEST_SSH_USER@127.0.0.1" "$@"
}

tb_ssh_wait() {
  # A real login whose session sees the test DOCKER_HOST proves SetEnv took effect.
  tb_wait sshd 30 tb_ssh_check_env
}

tb_ssh_check_env() {
  # shellcheck disable=SC2016 # expanded by the remote shell
  [ "$(tb_ssh 'printf %s "$DOCKER_HOST"')" = "unix://$TB_DIR/docker.sock" ]
}

# tb_bastion_spawn starts a jump host and a second dev host behind it. The bastion's
# sshd runs in a network namespace of its own, on the namespace's end of a veth pair
# ($net16.0.2). The host behind it listens on our end ($net16.0.1) and lets root in only
# from the bastion's address (AllowUsers root@$net16.0.2): a direct connection comes from
# $net16.0.1 and is refused, so the one way in is a hop through the bastion (ProxyJump,
# or ProxyCommand ssh -W). It has the main SSH host's SetEnv (docker, microk8s shim, HOME)
# and lives in our network namespace, so dev deploys, health checks and prod rollouts all
# work through it.
tb_bastion_spawn() {
  local d="$TB_DIR/ssh" ns vh vn net16 ports
  ns=gantry-$(printf %s "$TB_DIR" | md5sum | cut -c1-8)
  vh=gtb${ns#gantry-}
  vh=${vh:0:11}h
  vn=${vh%h}n
  if ! ip netns list 2>/dev/null | grep -qw "$ns"; then
    ip netns add "$ns" || return 1
    echo "$ns" >>"$TB_DIR/netns"
    net16=$(tb_free_net16) || return 1
    ip link add "$vh" type veth peer name "$vn" netns "$ns" || return 1
    echo "$vh" >>"$TB_DIR/bridges"
    ip addr add "$net16.0.1/30" dev "$vh" && ip link set "$vh" up || return 1
    ip netns exec "$ns" ip addr add "$net16.0.2/30" dev "$vn" || return 1
    ip netns exec "$ns" ip link set "$vn" up || return 1
    ip netns exec "$ns" ip link set lo up || return 1
    echo "$net16" >"$d/bastion-net16"
  fi
  net16=$(cat "$d/bastion-net16")
  [ -f "$d/bastion_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C gantry-testbed-bastion -f "$d/bastion_host_ed25519_key"
  [ -f "$d/inner_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C gantry-testbed-inner -f "$d/inner_host_ed25519_key"
  ports=$(tb_free_ports 2) || return 1
  read -r TB_BASTION_PORT TB_INNER_PORT <<<"$ports"
  cat >"$d/bastion_sshd_config" <<EOC
# gantry test bed jump host (in netns $ns)
ListenAddress $net16.0.2
Port $TB_BASTION_PORT
HostKey $d/bastion_host_ed25519_key
PidFile $d/bastion-sshd.pid
AuthorizedKeysFile $d/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
AuthenticationMethods publickey
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
AllowTcpForwarding yes
MaxStartups 100:30:200
LogLevel INFO
EOC
  sed -e "s/^ListenAddress .*/ListenAddress $net16.0.1/" -e "s/^Port .*/Port $TB_INNER_PORT/" \
    -e "s#^HostKey .*#HostKey $d/inner_host_ed25519_key#" -e "s#^PidFile .*#PidFile $d/inner-sshd.pid#" \
    -e "s/^# gantry test bed sshd.*/# gantry test bed dev host behind the bastion: root only from $net16.0.2/" \
    "$d/sshd_config" >"$d/inner_sshd_config"
  echo "AllowUsers root@$net16.0.2" >>"$d/inner_sshd_config"
  /usr/sbin/sshd -t -f "$d/bastion_sshd_config" || return 1
  /usr/sbin/sshd -t -f "$d/inner_sshd_config" || return 1
  tb_spawn sshd-bastion ip netns exec "$ns" /usr/sbin/sshd -D -e -f "$d/bastion_sshd_config"
  tb_spawn sshd-inner /usr/sbin/sshd -D -e -f "$d/inner_sshd_config"
  {
    printf '[%s]:%s %s\n' "$net16.0.2" "$TB_BASTION_PORT" "$(cut -d' ' -f1,2 "$d/bastion_host_ed25519_key.pub")"
    printf '[%s]:%s %s\n' "$net16.0.1" "$TB_INNER_PORT" "$(cut -d' ' -f1,2 "$d/inner_host_ed25519_key.pub")"
  } >"$d/known_hosts_bastion"
  export GANTRY_TEST_BASTION="$net16.0.2:$TB_BASTION_PORT"
  export GANTRY_TEST_BEHIND_BASTION="$net16.0.1:$TB_INNER_PORT"
  export GANTRY_TEST_BASTION_KNOWN_HOSTS="$d/known_hosts_bastion"
}

# tb_ssh_jump RUNS a command on the host behind the bastion, through the bastion.
tb_ssh_jump() {
  local o=(-i "$GANTRY_TEST_SSH_KEY" -o UserKnownHostsFile="$GANTRY_TEST_BASTION_KNOWN_HOSTS"
    -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes
    -o IdentitiesOnly=yes -o ConnectTimeout=5 -o LogLevel=ERROR)
  ssh -n "${o[@]}" -o ProxyCommand="ssh ${o[*]} -p ${GANTRY_TEST_BASTION##*:} -W %h:%p root@${GANTRY_TEST_BASTION%:*}" \
    -p "${GANTRY_TEST_BEHIND_BASTION##*:}" "root@${GANTRY_TEST_BEHIND_BASTION%:*}" "$@"
}

tb_bastion_wait() {
  tb_wait sshd-inner 30 tb_bastion_check_env
}

tb_bastion_check_env() {
  # shellcheck disable=SC2016 # expanded by the remote shell
  [ "$(tb_ssh_jump 'printf %s "$DOCKER_HOST"')" = "unix://$TB_DIR/docker.sock" ]
}
