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
