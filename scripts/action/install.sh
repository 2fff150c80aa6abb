#!/usr/bin/env bash
# The gantry Action's install step: download the release archive of GANTRY_VERSION for
# this runner, verify it against the release's checksums.txt, and keep it in the tool
# cache, so later jobs on the runner (and actions/cache) skip the download. Puts gantry on
# GITHUB_PATH and writes `path` and `version` to GITHUB_OUTPUT.
#
# Environment: GANTRY_VERSION (vX.Y.Z, or "latest"), GANTRY_REPO (owner/name of gantry's
# releases), GANTRY_DOWNLOAD_BASE (default <server>/<repo>/releases/download),
# GANTRY_API_URL (for "latest"), GANTRY_TOKEN (optional, private mirrors; passed to curl on
# stdin, never in argv), RUNNER_OS, RUNNER_ARCH, RUNNER_TOOL_CACHE.
set -euo pipefail

fail() {
  echo "::error title=gantry install::$*"
  echo "gantry install: $*" >&2
  exit 1
}

repo=${GANTRY_REPO:-bookshop-ops/gantry}
server=${GITHUB_SERVER_URL:-https://github.com}
base=${GANTRY_DOWNLOAD_BASE:-$server/$repo/releases/download}
api=${GANTRY_API_URL:-${GITHUB_API_URL:-https://api.github.com}}
version=${GANTRY_VERSION:-}

# fetch URL FILE downloads URL to FILE (stdout when FILE is -), with the token, if any,
# given to curl through its config on stdin.
fetch() {
  local auth=""
  if [ -n "${GANTRY_TOKEN:-}" ]; then
    auth=$(printf 'header = "Authorization: Bearer %s"\n' "$GANTRY_TOKEN")
  fi
  printf '%s\n' "$auth" | curl --config - -fsSL --retry 3 --retry-delay 2 -o "$2" "$1"
}

if [ -z "$version" ]; then
  fail "no gantry version: set the action's 'version' input to a release tag such as v0.2.0 (the action's own ref is not a release tag)"
fi
if [ "$version" = latest ]; then
  version=$(fetch "$api/repos/$repo/releases/latest" - | sed -n 's/^ *"tag_name": *"\([^"]*\)".*/\1/p' | head -n 1)
  [ -n "$version" ] || fail "could not find the latest gantry release of $repo"
fi
case $version in
  v[0-9]*.[0-9]*.[0-9]*) ;;
  *) fail "gantry version '$version' is not a release tag like v0.2.0" ;;
esac
case $version in
  *[!A-Za-z0-9._+-]*) fail "gantry version '$version' has characters a release tag does not" ;;
esac
num=${version#v}

case ${RUNNER_OS:-$(uname -s)} in
  Linux | linux) os=linux ;;
  macOS | Darwin | darwin) os=darwin ;;
  *) fail "no gantry release for runner OS ${RUNNER_OS:-$(uname -s)}: use Linux or macOS runners" ;;
esac
case ${RUNNER_ARCH:-$(uname -m)} in
  X64 | x86_64 | amd64) arch=amd64 ;;
  ARM64 | aarch64 | arm64) arch=arm64 ;;
  *) fail "no gantry release for runner architecture ${RUNNER_ARCH:-$(uname -m)}" ;;
esac

archive="gantry_${num}_${os}_${arch}.tar.gz"
# The tool cache path matches the action's actions/cache path (pin a version to benefit).
dir="${RUNNER_TOOL_CACHE:-$HOME/.cache}/gantry/$version/$os-$arch"

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1"; else shasum -a 256 "$1"; fi
}

if [ -x "$dir/gantry" ] && [ -f "$dir/.verified" ] && [ "$(cat "$dir/.verified")" = "$(sha256 "$dir/gantry" | cut -d' ' -f1)" ]; then
  echo "gantry $version from the tool cache ($dir)"
else
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "downloading $archive from $base/$version"
  fetch "$base/$version/$archive" "$tmp/$archive" || fail "download of $base/$version/$archive failed"
  fetch "$base/$version/checksums.txt" "$tmp/checksums.txt" || fail "download of $base/$version/checksums.txt failed"
  want=$(awk -v f="$archive" '$2 == f || $2 == "*" f { print $1 }' "$tmp/checksums.txt")
  [ -n "$want" ] || fail "checksums.txt of $version does not list $archive"
  got=$(sha256 "$tmp/$archive" | cut -d' ' -f1)
  [ "$got" = "$want" ] || fail "checksum mismatch for $archive: got $got, the release says $want; nothing was installed"
  rm -rf "$dir"
  mkdir -p "$dir"
  tar -xzf "$tmp/$archive" -C "$dir" gantry || fail "$archive holds no gantry binary"
  chmod 0755 "$dir/gantry"
  sha256 "$dir/gantry" | cut -d' ' -f1 >"$dir/.verified"
  echo "verified $archive ($got)"
fi

if [ -n "${GITHUB_PATH:-}" ]; then echo "$dir" >>"$GITHUB_PATH"; fi
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  {
    echo "path=$dir/gantry"
    echo "version=$version"
  } >>"$GITHUB_OUTPUT"
fi
"$dir/gantry" --version
