#!/usr/bin/env bash
# Builds (once) the Kubernetes control-plane binaries the test bed runs and caches them by
# version outside the checkout, so only a fresh machine pays the ~15 minute cold build.
# Prints the bin directory on stdout. With --kubectl it builds (once) a kubectl of the same
# version, for machines that have none, and prints its path instead.
set -euo pipefail

want_kubectl=0
[ "${1:-}" = --kubectl ] && want_kubectl=1

K8S_VERSION=${K8S_VERSION:-v1.33.13}
KWOK_VERSION=${KWOK_VERSION:-v0.7.0}
CACHE=${GANTRY_TESTBED_CACHE:-$HOME/.cache/gantry-testbed}
BIN="$CACHE/k8s-$K8S_VERSION-kwok-$KWOK_VERSION/bin"

need=(kube-apiserver kube-controller-manager kube-scheduler kwok)
[ "$want_kubectl" = 1 ] && need=(kubectl)
result=$BIN
[ "$want_kubectl" = 1 ] && result=$BIN/kubectl
missing=0
for b in "${need[@]}"; do [ -x "$BIN/$b" ] || missing=1; done
if [ "$missing" = 0 ]; then echo "$result"; exit 0; fi

mkdir -p "$BIN"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

echo "k8s-build: building Kubernetes $K8S_VERSION and kwok $KWOK_VERSION into $BIN (cold build, ~15 min on 2 cores)" >&2
export GOFLAGS=-mod=mod CGO_ENABLED=0

# kubernetes' go.mod replaces its staging modules with ./staging paths, which `go install` refuses;
# a wrapper module pins each staging module to its published v0.x twin instead.
modjson=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION")
gomod=$(printf '%s' "$modjson" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
patch=${K8S_VERSION##*.}
staging_ver="v0.$minor.$patch"

{
  echo "module gantry.local/k8sbuild"
  echo
  echo "go 1.24"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  grep -E '^\s*k8s.io/[a-z0-9-]+ => \./staging/' "$gomod" | awk -v v="$staging_ver" '{print "replace " $1 " => " $1 " " v}'
} > go.mod
cat > tools.go <<'GO'
//go:build tools

package k8sbuild

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
cat > doc.go <<'GO'
package k8sbuild
GO
go mod tidy -e >&2 || true
go get "k8s.io/kubernetes@$K8S_VERSION" >&2

major=1
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
cmds=(kube-apiserver kube-controller-manager kube-scheduler)
[ "$want_kubectl" = 1 ] && cmds=(kubectl)
for c in "${cmds[@]}"; do
  [ -x "$BIN/$c" ] && continue
  echo "k8s-build: $c" >&2
  go build -tags tools -trimpath -ldflags "$ld" -o "$BIN/$c.tmp" "k8s.io/kubernetes/cmd/$c" >&2
  mv "$BIN/$c.tmp" "$BIN/$c"
done

if [ "$want_kubectl" = 0 ] && [ ! -x "$BIN/kwok" ]; then
  echo "k8s-build: kwok" >&2
  GOBIN="$work/gobin" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" >&2
  mv "$work/gobin/kwok" "$BIN/kwok"
fi
echo "$result"
