# shellcheck shell=bash
# moto_server, serving the ECR API (and the rest of moto's AWS mocks) on 127.0.0.1.

tb_moto_spawn() {
  TB_MOTO_PORT=$(tb_free_ports 1) || return 1
  # Keep real AWS settings from leaking into the mock.
  tb_spawn moto env -u AWS_PROFILE -u AWS_CONFIG_FILE -u AWS_SHARED_CREDENTIALS_FILE \
    moto_server -H 127.0.0.1 -p "$TB_MOTO_PORT"
  export GANTRY_TEST_ECR_ENDPOINT="http://127.0.0.1:$TB_MOTO_PORT"
}

tb_moto_wait() {
  tb_wait moto 60 curl -fsS -o /dev/null -X POST "$GANTRY_TEST_ECR_ENDPOINT/moto-api/reset"
}
