# shellcheck shell=bash
# Tools the tests run as a user would, built once from the Go module proxy and cached by
# version beside the Kubernetes binaries: GoReleaser (gantry's own release configuration).

TB_GORELEASER_VERSION=${TB_GORELEASER_VERSION:-v2.15.1}

# tb_tools installs the tools (first time only) and exports GANTRY_TEST_GORELEASER.
tb_tools() {
  local cache bin start
  cache=${GANTRY_TESTBED_CACHE:-$HOME/.cache/gantry-testbed}
  bin="$cache/goreleaser-$TB_GORELEASER_VERSION"
  if [ ! -x "$bin/goreleaser" ]; then
    start=$(tb_now)
    tb_log "building goreleaser $TB_GORELEASER_VERSION into $bin (first time only, a few minutes)"
    mkdir -p "$bin"
    (cd "$TB_DIR" && GOFLAGS=-mod=mod GOBIN=$bin CGO_ENABLED=0 go install "github.com/goreleaser/goreleaser/v2@$TB_GORELEASER_VERSION") \
      >"$TB_DIR/logs/goreleaser-build.log" 2>&1 ||
      tb_die "go install goreleaser failed: $(tail -n 5 "$TB_DIR/logs/goreleaser-build.log")" || return 1
    tb_log "goreleaser built in $(tb_elapsed "$start")s"
  fi
  export GANTRY_TEST_GORELEASER="$bin/goreleaser"
}
