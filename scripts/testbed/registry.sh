# shellcheck shell=bash
# Debian's docker-registry (distribution 2.8): plain http on 127.0.0.1, filesystem
# storage in $TB_DIR, deletes enabled.

tb_registry_spawn() {
  TB_REGISTRY_PORT=$(tb_free_ports 1) || return 1
  mkdir -p "$TB_DIR/registry/data"
  cat >"$TB_DIR/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $TB_DIR/registry/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$TB_REGISTRY_PORT
  headers:
    X-Content-Type-Options: [nosniff]
EOF
  # REGISTRY_* variables in the environment would override the file.
  tb_spawn registry env -u REGISTRY_HTTP_ADDR -u REGISTRY_STORAGE /usr/bin/docker-registry serve "$TB_DIR/registry/config.yml"
  export GANTRY_TEST_REGISTRY="127.0.0.1:$TB_REGISTRY_PORT"
}

tb_registry_wait() {
  tb_wait registry 30 curl -fsS -o /dev/null "http://$GANTRY_TEST_REGISTRY/v2/"
}
