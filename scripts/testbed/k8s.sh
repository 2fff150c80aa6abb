# shellcheck shell=bash
# A real Kubernetes control plane on 127.0.0.1: Debian's etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler v1.33 plus kwok simulating one node and its
# pods (see k8s-stages.yaml). Binaries come from scripts/testbed/k8s-build.sh's cache.
# Also writes the `microk8s` shim the SSH host's PATH starts with.

TB_K8S_TOKEN_USER="admin"

# tb_k8s_bins builds (first time only) and locates the control-plane binaries and kubectl.
tb_k8s_bins() {
  local start
  start=$(tb_now)
  TB_K8S_BIN=$("$TB_SCRIPTS/k8s-build.sh") || tb_die "k8s-build.sh failed" || return 1
  tb_log "kubernetes binaries: $TB_K8S_BIN ($(tb_elapsed "$start")s)"
  # The Google Cloud SDK's /usr/bin/kubectl is a dispatcher; call its 1.33 client directly
  # when it is there, it saves a round trip and a version probe per call.
  if [ -n "${GANTRY_KUBECTL:-}" ]; then
    TB_KUBECTL=$GANTRY_KUBECTL
  elif [ -x /usr/lib/google-cloud-sdk/bin/kubectl.1.33 ]; then
    TB_KUBECTL=/usr/lib/google-cloud-sdk/bin/kubectl.1.33
  elif command -v kubectl >/dev/null 2>&1; then
    TB_KUBECTL=$(command -v kubectl)
  else
    TB_KUBECTL=$("$TB_SCRIPTS/k8s-build.sh" --kubectl) || tb_die "could not build kubectl" || return 1
  fi
}

tb_kubectl() { "$TB_KUBECTL" --kubeconfig "$TB_DIR/k8s/kubeconfig" "$@"; }

# tb_k8s_pki makes a CA, the apiserver serving cert, the service-account key pair, a
# static admin token and the kubeconfig every component and the tests use.
tb_k8s_pki() {
  local p="$TB_DIR/k8s/pki"
  mkdir -p "$p"
  (
    set -e
    cd "$p"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
      -keyout ca.key -out ca.crt -subj "/CN=gantry-testbed-ca" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
    printf '%s\n' \
      "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
      "extendedKeyUsage=serverAuth" "keyUsage=digitalSignature,keyEncipherment" >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >token
  ) || tb_die "openssl PKI generation failed" || return 1
  TB_K8S_TOKEN=$(cat "$p/token")
  printf '%s,%s,%s,"system:masters"\n' "$TB_K8S_TOKEN" "$TB_K8S_TOKEN_USER" "$TB_K8S_TOKEN_USER" >"$p/tokens.csv"
  chmod 600 "$p"/*.key "$p/token" "$p/tokens.csv"
}

tb_k8s_kubeconfig() {
  local kc="$TB_DIR/k8s/kubeconfig"
  cat >"$kc" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: gantry-testbed
  cluster:
    server: https://127.0.0.1:$TB_APISERVER_PORT
    certificate-authority: $TB_DIR/k8s/pki/ca.crt
users:
- name: $TB_K8S_TOKEN_USER
  user:
    token: $TB_K8S_TOKEN
contexts:
- name: gantry-testbed
  context:
    cluster: gantry-testbed
    user: $TB_K8S_TOKEN_USER
    namespace: default
current-context: gantry-testbed
EOF
  chmod 600 "$kc"
  export GANTRY_TEST_KUBECONFIG="$kc"

  cat >"$TB_DIR/shim-bin/microk8s" <<EOF
#!/bin/sh
# microk8s shim for the gantry test bed: 'microk8s kubectl ARGS' runs a real kubectl
# against the test cluster; nothing else of microk8s exists here.
if [ "\$1" = kubectl ]; then
  shift
  exec '$TB_KUBECTL' --kubeconfig '$kc' "\$@"
fi
echo "microk8s (gantry test bed shim): only 'microk8s kubectl' is available" >&2
exit 1
EOF
  chmod 755 "$TB_DIR/shim-bin/microk8s"
}

tb_etcd_spawn() {
  read -r TB_ETCD_PORT TB_ETCD_PEER_PORT <<<"$(tb_free_ports 2)" || return 1
  rm -rf "$TB_DIR/k8s/etcd"
  mkdir -p "$TB_DIR/k8s/etcd"
  chmod 700 "$TB_DIR/k8s/etcd"
  # ETCD_* variables would override the flags.
  local unset=() v
  for v in $(compgen -e ETCD_); do unset+=(-u "$v"); done
  tb_spawn etcd env "${unset[@]}" /usr/bin/etcd \
    --name gantry-testbed \
    --data-dir "$TB_DIR/k8s/etcd" \
    --listen-client-urls "http://127.0.0.1:$TB_ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$TB_ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$TB_ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$TB_ETCD_PEER_PORT" \
    --initial-cluster "gantry-testbed=http://127.0.0.1:$TB_ETCD_PEER_PORT" \
    --initial-cluster-state new \
    --quota-backend-bytes 1073741824 \
    --log-level warn
}

tb_etcd_wait() {
  tb_wait etcd 60 curl -fsS "http://127.0.0.1:$TB_ETCD_PORT/health"
}

tb_apiserver_spawn() {
  local p="$TB_DIR/k8s/pki"
  TB_APISERVER_PORT=$(tb_free_ports 1) || return 1
  tb_spawn kube-apiserver "$TB_K8S_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$TB_ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
    --secure-port "$TB_APISERVER_PORT" \
    --cert-dir "$p" \
    --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
    --client-ca-file "$p/ca.crt" \
    --token-auth-file "$p/tokens.csv" \
    --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$p/sa.pub" \
    --service-account-signing-key-file "$p/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 \
    --endpoint-reconciler-type none \
    --enable-priority-and-fairness=false \
    --profiling=false \
    --v 1
  tb_k8s_kubeconfig
}

tb_apiserver_wait() {
  tb_wait kube-apiserver 120 curl -fsS --cacert "$TB_DIR/k8s/pki/ca.crt" \
    -H "Authorization: Bearer $TB_K8S_TOKEN" "https://127.0.0.1:$TB_APISERVER_PORT/readyz"
}

# tb_k8s_controllers_spawn starts the components that only talk to the apiserver.
tb_k8s_controllers_spawn() {
  local p="$TB_DIR/k8s/pki" kc="$TB_DIR/k8s/kubeconfig"
  tb_spawn kube-controller-manager "$TB_K8S_BIN/kube-controller-manager" \
    --kubeconfig "$kc" --leader-elect=false --secure-port 0 \
    --service-account-private-key-file "$p/sa.key" \
    --root-ca-file "$p/ca.crt" \
    --cluster-signing-cert-file "$p/ca.crt" --cluster-signing-key-file "$p/ca.key" \
    --profiling=false --v 1
  tb_spawn kube-scheduler "$TB_K8S_BIN/kube-scheduler" \
    --kubeconfig "$kc" --leader-elect=false --secure-port 0 --profiling=false --v 1
  # Without --node-lease-duration-seconds kwok heartbeats through node status every
  # 20-45 s, past the node monitor's grace period: the node flaps NotReady and every pod
  # loses Ready. With a lease it renews every 10 s.
  tb_spawn kwok "$TB_K8S_BIN/kwok" \
    --kubeconfig "$kc" \
    --config "$TB_SCRIPTS/k8s-stages.yaml" \
    --node-lease-duration-seconds 40 \
    --cidr 10.244.0.1/16 \
    --node-ip 10.240.0.10 \
    --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake
}

tb_k8s_node_create() {
  tb_kubectl apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Node
metadata:
  name: gantry-node
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: gantry-node
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
spec: {}
status:
  allocatable:
    cpu: "32"
    memory: 256Gi
    pods: "110"
  capacity:
    cpu: "32"
    memory: 256Gi
    pods: "110"
EOF
}

# tb_k8s_usable: the node is Ready and schedulable, and the default service account that
# every pod needs exists.
tb_k8s_usable() {
  [ "$(tb_kubectl get node gantry-node -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ] &&
    [ -z "$(tb_kubectl get node gantry-node -o jsonpath='{.spec.taints}')" ] &&
    tb_kubectl get serviceaccount default -n default -o name
}

tb_k8s_wait() {
  local name
  tb_k8s_node_create || { tb_log "could not create the kwok node"; tb_log_tail kube-apiserver; return 1; }
  for name in kube-controller-manager kube-scheduler; do
    tb_alive "$(tb_pid "$name")" || { tb_log "$name exited"; tb_log_tail "$name"; return 1; }
  done
  tb_wait kwok 120 tb_k8s_usable || { tb_log_tail kube-controller-manager 10; return 1; }
}
