#!/bin/sh
# caddy-image.sh IMAGE: builds IMAGE (e.g. gantry-test/caddy:2) FROM scratch on $DOCKER_HOST
# with Debian's caddy binary and the libraries it links, the test bed's stand-in for the
# official caddy:2 image (dev.proxy_image). The .deb is fetched with apt-get once and cached.
set -eu
image=$1
cache=${GANTRY_TESTBED_CACHE:-$HOME/.cache/gantry-testbed}/caddy
bin=${GANTRY_TEST_CADDY:-$cache/x/usr/bin/caddy}
if [ ! -x "$bin" ]; then
  mkdir -p "$cache"
  (cd "$cache" && apt-get download caddy >/dev/null && dpkg-deb -x caddy_*.deb x)
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/root/usr/bin" "$ctx/root/etc/caddy" "$ctx/root/config" "$ctx/root/data" "$ctx/root/tmp"
cp "$bin" "$ctx/root/usr/bin/caddy"
for lib in $(ldd "$bin" | awk '/=>/ {print $3} /^\t\/lib/ {print $1}'); do
  mkdir -p "$ctx/root$(dirname "$lib")"
  cp -L "$lib" "$ctx/root$lib"
done
cat >"$ctx/Dockerfile" <<'DF'
FROM scratch
COPY root/ /
ENV XDG_CONFIG_HOME=/config XDG_DATA_HOME=/data HOME=/tmp
ENTRYPOINT []
CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
DF
DOCKER_BUILDKIT=0 docker build -q -t "$image" "$ctx" >/dev/null
