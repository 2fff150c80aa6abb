# shellcheck shell=bash
# Shared helpers for the gantry test bed: logging, free loopback ports, starting
# peers in their own sessions, waiting for readiness, and stopping everything.
# Sourced by scripts/test, scripts/testbed/up and scripts/testbed/down.
#
# State lives in $TB_DIR:
#   pids      "PID NAME" per started process, in start order (stopped in reverse)
#   bridges   network bridges we created (deleted on stop)
#   netns     network namespaces we created (deleted on stop)
#   logs/     one log per peer
#   env       the exported GANTRY_TEST_* variables, ready to `source`

TB_SCRIPTS=${TB_SCRIPTS:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
TB_T0=${TB_T0:-${EPOCHREALTIME:-$(date +%s)}}

tb_now() { printf '%s' "${EPOCHREALTIME:-$(date +%s)}"; }

# tb_elapsed START prints seconds since START with one decimal.
tb_elapsed() { awk -v a="$1" -v b="$(tb_now)" 'BEGIN { printf "%.1f", b - a }'; }

tb_log() { printf '[testbed %6ss] %s\n' "$(tb_elapsed "$TB_T0")" "$*" >&2; }

tb_die() {
  tb_log "ERROR: $*"
  return 1
}

# tb_python runs python3, preferring the system one (the pyenv shim is slower to start).
tb_python() {
  if [ -x /usr/bin/python3 ]; then /usr/bin/python3 "$@"; else python3 "$@"; fi
}

# tb_free_ports N prints N distinct free TCP ports on 127.0.0.1. They are drawn at random
# below the kernel's ephemeral range (32768+), so outgoing connections cannot be holding
# them, and all N sockets are held open together so the ports are distinct.
tb_free_ports() {
  tb_python - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
cands = list(range(20000, 32700))
random.shuffle(cands)
held, ports = [], []
for p in cands:
    if len(ports) == n:
        break
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        s.close()
        continue
    held.append(s)
    ports.append(p)
if len(ports) != n:
    sys.exit("no free ports")
print(" ".join(map(str, ports)))
PY
}

# tb_free_net16 prints the first two octets of a 10.X.0.0/16 that overlaps no route on
# this machine (so neither a system Docker's networks nor another bed's).
tb_free_net16() {
  ip -4 route show table all 2>/dev/null | awk '{print $1}' | tb_python -c '
import ipaddress, random, sys
used = []
for w in sys.stdin.read().split():
    try:
        n = ipaddress.ip_network(w, strict=False)
    except ValueError:
        continue
    if n.prefixlen > 0:
        used.append(n)
cands = list(range(128, 255))
random.shuffle(cands)
for x in cands:
    n = ipaddress.ip_network("10.%d.0.0/16" % x)
    if not any(n.overlaps(u) for u in used):
        print("10.%d" % x)
        sys.exit(0)
sys.exit("no free 10.x.0.0/16")
'
}

declare -gA TB_SPAWNED_AT=()

# tb_spawn NAME CMD... starts CMD in its own session (so it is its own process group and
# no terminal signal reaches it), logs to $TB_DIR/logs/NAME.log, and records its pid.
# The pid is also left in TB_PID.
tb_spawn() {
  local name=$1
  shift
  mkdir -p "$TB_DIR/logs"
  # Without job control the background child is never a group leader, so setsid execs
  # in place: $! is the pid of the command itself and of its process group.
  setsid "$@" </dev/null >>"$TB_DIR/logs/$name.log" 2>&1 &
  TB_PID=$!
  # Out of the job table: no "Killed" notices on stop; bash still reaps it.
  disown "$TB_PID"
  TB_SPAWNED_AT[$name]=$(tb_now)
  echo "$TB_PID $name" >>"$TB_DIR/pids"
}

# tb_pid NAME prints the most recent pid recorded for NAME.
tb_pid() { awk -v n="$1" '$2 == n { p = $1 } END { print p }' "$TB_DIR/pids" 2>/dev/null; }

# tb_alive PID: true while PID exists and is not a zombie.
tb_alive() {
  local st
  [ -n "$1" ] || return 1
  st=$(awk '{ sub(/^.*\) /, ""); print substr($0, 1, 1) }' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# tb_log_tail NAME prints the end of a peer's log, for failures.
tb_log_tail() {
  local f="$TB_DIR/logs/$1.log"
  [ -f "$f" ] || return 0
  echo "----- last lines of $f -----" >&2
  tail -n "${2:-25}" "$f" >&2
  echo "-----" >&2
}

# tb_wait NAME TIMEOUT CHECK... polls CHECK until it succeeds. Fails early, with the log,
# when NAME's process has died. Returns 75 when the log shows a port clash (callers retry).
tb_wait() {
  local name=$1 timeout=$2
  shift 2
  local start pid deadline
  start=$(tb_now)
  pid=$(tb_pid "$name")
  deadline=$((SECONDS + timeout))
  while :; do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    if [ -n "$pid" ] && ! tb_alive "$pid"; then
      "$@" >/dev/null 2>&1 && return 0
      if grep -qiE 'address already in use|bind: .*in use' "$TB_DIR/logs/$name.log" 2>/dev/null; then
        tb_log "$name: port clash, retrying with another port"
        return 75
      fi
      tb_log "$name exited during start-up"
      tb_log_tail "$name"
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tb_log "$name not ready after ${timeout}s"
      tb_log_tail "$name"
      return 1
    fi
    sleep 0.2
  done
}

# tb_ready SVC PROC runs tb_SVC_wait, respawning with fresh ports (tb_SVC_spawn) on a port
# clash, and reports the time from PROC's start to SVC being ready.
tb_ready() {
  local svc=$1 proc=$2 try rc
  for try in 1 2 3; do
    rc=0
    "tb_${svc}_wait" || rc=$?
    if [ "$rc" = 0 ]; then
      tb_timing "$svc" "${TB_SPAWNED_AT[$proc]:-$TB_T0}"
      return 0
    fi
    [ "$rc" = 75 ] && [ "$try" -lt 3 ] || return 1
    "tb_${svc}_spawn"
  done
  return 1
}

TB_TIMINGS=()
# tb_timing NAME START records and prints how long NAME took to become ready.
tb_timing() {
  local took
  took=$(tb_elapsed "$2")
  TB_TIMINGS+=("$1=${took}s")
  tb_log "$1 ready (${took}s)"
}

# tb_descendants PID... prints PID and all its descendants.
tb_descendants() {
  ps -e -o pid=,ppid= 2>/dev/null | awk -v roots="$*" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
    { parent[$1] = $2; pids[NR] = $1 }
    END {
      changed = 1
      while (changed) {
        changed = 0
        for (i in pids) { p = pids[i]; if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1 } }
      }
      for (p in keep) print p
    }'
}

# tb_ancestors prints this shell and its ancestors, which a sweep must never kill.
tb_ancestors() {
  local p=${BASHPID:-$$}
  while [ -n "$p" ] && [ "$p" != 0 ]; do
    echo "$p"
    p=$(awk '{ sub(/^.*\) /, ""); split($0, f, " "); print f[2] }' "/proc/$p/stat" 2>/dev/null)
  done
  echo "$$"
}

# tb_wait_gone SECONDS PID... waits until none of the pids is alive (zombies count as gone).
tb_wait_gone() {
  local limit=$1 p left
  shift
  local deadline=$((SECONDS + limit))
  while :; do
    left=0
    for p in "$@"; do tb_alive "$p" && left=1; done
    [ "$left" = 0 ] && return 0
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

# tb_stop_one PID NAME GRACE: SIGTERM to the process, then SIGKILL to whatever of its
# process group and descendants is still there after GRACE seconds.
tb_stop_one() {
  local pid=$1 name=$2 grace=$3 tree p
  tb_alive "$pid" || return 0
  tree=$(tb_descendants "$pid")
  kill -TERM "$pid" 2>/dev/null || true
  if ! tb_wait_gone "$grace" "$pid"; then
    tb_log "stop: $name (pid $pid) ignored SIGTERM for ${grace}s, killing"
  fi
  kill -KILL -- "-$pid" 2>/dev/null || true
  # shellcheck disable=SC2086
  for p in $tree $(tb_descendants "$pid"); do
    if tb_alive "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
  done
  # shellcheck disable=SC2086
  tb_wait_gone 5 $tree || tb_log "stop: some processes of $name are still there"
}

# tb_stop_kubectl_orphans kills kubectl runs that outlived their SSH session (a test
# killed during `microk8s kubectl rollout status` leaves one watching the apiserver,
# which then drains it for seconds). Our peers use the same kubeconfig, so skip them.
tb_stop_kubectl_orphans() {
  local p peers found=()
  peers=" $(awk '{ printf "%s ", $1 }' "$TB_DIR/pids") "
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    case $peers in *" $p "*) continue ;; esac
    if { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -qF -- "--kubeconfig $TB_DIR/k8s/kubeconfig"; then
      if tb_alive "$p"; then found+=("$p"); fi
    fi
  done
  [ "${#found[@]}" -gt 0 ] || return 0
  tb_log "stop: killing ${#found[@]} leftover kubectl process(es)"
  kill -KILL "${found[@]}" 2>/dev/null || true
  tb_wait_gone 5 "${found[@]}" || true
}

# tb_stop_all stops every recorded peer in reverse start order, sweeps up stragglers that
# reference $TB_DIR on their command line (for example containerd shims), unmounts what
# dockerd mounted under $TB_DIR and deletes the bridges we created. Safe to call twice.
tb_stop_all() {
  [ -n "${TB_DIR:-}" ] && [ -d "$TB_DIR" ] || return 0
  local start line pid name grace p mine stray mp br
  start=$(tb_now)
  if [ -f "$TB_DIR/pids" ]; then
    tb_stop_kubectl_orphans
    if declare -F tb_docker_prestop >/dev/null; then tb_docker_prestop || true; fi
    local -a lines
    mapfile -t lines < <(tac "$TB_DIR/pids")
    for line in "${lines[@]}"; do
      read -r pid name <<<"$line"
      case $name in
        dockerd) grace=20 ;;              # stops its containers first
        kube-apiserver | etcd) grace=5 ;; # throw-away state, no need to drain
        *) grace=10 ;;
      esac
      tb_stop_one "$pid" "$name" "$grace"
    done
    : >"$TB_DIR/pids"
  fi

  mine=" $(tb_ancestors | tr '\n' ' ') "
  stray=()
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    case $mine in *" $p "*) continue ;; esac
    if { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -qF -- "$TB_DIR/"; then
      if tb_alive "$p"; then stray+=("$p"); fi
    fi
  done
  if [ "${#stray[@]}" -gt 0 ]; then
    # Their children too: containers whose shim lost its dockerd.
    mapfile -t stray < <(tb_descendants "${stray[@]}")
    tb_log "stop: killing ${#stray[@]} leftover process(es): ${stray[*]}"
    kill -KILL "${stray[@]}" 2>/dev/null || true
    tb_wait_gone 5 "${stray[@]}" || true
  fi

  # Deepest mount points first.
  awk -v d="$TB_DIR/" 'index($5, d) == 1 { print length($5), $5 }' /proc/self/mountinfo 2>/dev/null |
    sort -rn | cut -d' ' -f2- | while read -r mp; do
      umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || tb_log "stop: could not unmount $mp"
    done

  # Bridges dockerd made for user-defined networks, if it could not remove them itself:
  # every address in our private pool is ours.
  if [ -f "$TB_DIR/docker-net16" ]; then
    local net16
    net16=$(cat "$TB_DIR/docker-net16")
    ip -4 -o addr show 2>/dev/null | awk -v p="inet $net16." 'index($0, p) { print $2 }' >>"$TB_DIR/bridges" || true
  fi
  if [ -f "$TB_DIR/bridges" ]; then
    sort -u "$TB_DIR/bridges" | while read -r br; do
      if [ -n "$br" ] && ip link show "$br" >/dev/null 2>&1; then
        ip link delete "$br" 2>/dev/null || tb_log "stop: could not delete bridge $br"
      fi
    done
    : >"$TB_DIR/bridges"
  fi
  # Network namespaces of the bastion (their veth pairs go with them).
  if [ -f "$TB_DIR/netns" ]; then
    sort -u "$TB_DIR/netns" | while read -r ns; do
      if [ -n "$ns" ]; then ip netns delete "$ns" 2>/dev/null || tb_log "stop: could not delete netns $ns"; fi
    done
    : >"$TB_DIR/netns"
  fi
  tb_log "all peers stopped ($(tb_elapsed "$start")s)"
}

# tb_write_env writes $TB_DIR/env with every exported test-bed variable.
tb_write_env() {
  local v
  {
    echo "# gantry test bed $TB_DIR: source this file; stop with: scripts/testbed/down $TB_DIR"
    for v in GANTRY_TEST_BED_DIR GANTRY_TEST_DOCKER_HOST DOCKER_HOST GANTRY_TEST_REGISTRY \
      GANTRY_TEST_SSH GANTRY_TEST_SSH_USER GANTRY_TEST_SSH_KEY GANTRY_TEST_SSH_KNOWN_HOSTS \
      GANTRY_TEST_BASTION GANTRY_TEST_BEHIND_BASTION GANTRY_TEST_BASTION_KNOWN_HOSTS \
      GANTRY_TEST_ECR_ENDPOINT GANTRY_TEST_KUBECONFIG GANTRY_TEST_GORELEASER GANTRY_TEST_OPENAPI \
      GANTRY_TESTBED_REQUIRED; do
      printf 'export %s=%q\n' "$v" "${!v}"
    done
  } >"$TB_DIR/env"
}
