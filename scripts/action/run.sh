#!/usr/bin/env bash
# The gantry Action's run step: `gantry <command> <args> --ci` in the working directory.
# gantry's GitHub printer writes its results (image_tag, digest, release_url, …) to
# GITHUB_OUTPUT, which become this step's, and so the action's, outputs.
#
# Environment: GANTRY_BIN (default: gantry on PATH), GANTRY_COMMAND, GANTRY_ARGS (split on
# white space, never globbed or evaluated), GANTRY_WORKDIR.
set -euo pipefail

fail() {
  echo "::error title=gantry::$*"
  echo "gantry action: $*" >&2
  exit 2
}

case ${GANTRY_COMMAND:-} in
  dev | promote | rollback | doctor | snapshots | meta) ;;
  "") fail "the 'command' input is empty: use dev, promote or rollback" ;;
  *) fail "unknown command '${GANTRY_COMMAND}': use dev, promote or rollback (or doctor, snapshots, meta)" ;;
esac
cd "${GANTRY_WORKDIR:-.}" || fail "working-directory '${GANTRY_WORKDIR}' does not exist"
args=()
if [ -n "${GANTRY_ARGS:-}" ]; then
  read -r -a args <<<"$GANTRY_ARGS"
fi
exec "${GANTRY_BIN:-gantry}" "$GANTRY_COMMAND" "${args[@]}" --ci
