#!/usr/bin/env bash
# Lints the deployment files, offline once its tools are installed; exits non-zero on any finding.
#   deploy/lint.sh
# What runs (configs in deploy/lint/):
#   docker/Dockerfile          dockerfile-utils lint, dockerfilelint (and hadolint when on the PATH)
#   docker/docker-compose.yml  dclint: the Compose Specification schema plus best-practice rules
#   all YAML in docker/, deploy/ yamllint
#   deploy/k8s/*.yaml          validate-k8s.mjs: Kubernetes API schemas (kubernetes-models), unknown
#                              fields (@kubernetes/client-node), the FlinkDeployment (the operator's CRD
#                              when FLINK_CRD names its file, else a built-in check), cross-references
#   shell                      shellcheck: this script and the compose file's submit script
# The npm packages (pinned below) are installed on first use into $DUALIGN_LINT_DIR (default
# /tmp/dualign-lint); yamllint and shellcheck come from the PATH, else from Debian's packages when
# this runs as root. A tool that cannot be had fails the run, unless DUALIGN_LINT_ALLOW_MISSING=1.
# Not in the registries this project uses, so not run: hadolint, kubeconform, kubeval.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TOOLS="${DUALIGN_LINT_DIR:-/tmp/dualign-lint}"
NPM_PACKAGES=(dclint@3.1.0 dockerfile-utils@0.16.3 dockerfilelint@1.8.0 kubernetes-models@5.1.0
  @kubernetes/client-node@1.4.0 ajv@8.20.0 yaml@2.9.1)
BIN="$TOOLS/node_modules/.bin"

passed=(); failed=(); missing=()
run() { # name command...
  local name="$1"; shift
  echo "== $name"
  if "$@"; then passed+=("$name"); else failed+=("$name"); fi
}

# --- tools -----------------------------------------------------------------------------------------
npm_ok=""
if command -v node >/dev/null && command -v npm >/dev/null; then
  if [[ "$(cat "$TOOLS/.installed" 2>/dev/null)" != "${NPM_PACKAGES[*]}" ]]; then
    echo "deploy/lint.sh: installing ${NPM_PACKAGES[*]} into $TOOLS" >&2
    mkdir -p "$TOOLS"
    if (cd "$TOOLS" && { [[ -f package.json ]] || npm init -y >/dev/null; } \
        && npm install --no-audit --no-fund --loglevel=error "${NPM_PACKAGES[@]}" >/dev/null); then
      echo "${NPM_PACKAGES[*]}" > "$TOOLS/.installed"
      npm_ok=1
    fi
  else
    npm_ok=1
  fi
fi
[[ -n "$npm_ok" ]] || missing+=("npm packages (node/npm or the registry)")

apt_updated=""
debian_tool() { # command package
  command -v "$1" >/dev/null && return 0
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    [[ -n "$apt_updated" ]] || { apt-get update -qq >/dev/null && apt_updated=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 || true
  fi
  command -v "$1" >/dev/null || { missing+=("$1 (Debian package $2)"); return 1; }
}
have_yamllint=""; debian_tool yamllint yamllint && have_yamllint=1
have_shellcheck=""; debian_tool shellcheck shellcheck && have_shellcheck=1

echo "tools: node $(node --version 2>/dev/null || echo -), $(yamllint --version 2>/dev/null || echo 'yamllint -')," \
  "shellcheck $(shellcheck --version 2>/dev/null | sed -n 's/^version: //p' || echo -), npm: ${NPM_PACKAGES[*]}"

# --- the checks ------------------------------------------------------------------------------------
if [[ -n "$npm_ok" ]]; then
  run "dockerfile-utils lint docker/Dockerfile" "$BIN/dockerfile-utils" lint docker/Dockerfile
  run "dockerfilelint docker/Dockerfile" "$BIN/dockerfilelint" docker/Dockerfile
  run "dclint docker/docker-compose.yml" "$BIN/dclint" -c deploy/lint/dclint.json docker/docker-compose.yml
  # ES modules resolve packages next to the script: run a copy from the tools' directory
  cp deploy/lint/validate-k8s.mjs "$TOOLS/validate-k8s.mjs"
  run "validate-k8s deploy/k8s" node "$TOOLS/validate-k8s.mjs" deploy/k8s/*.yaml
fi
if command -v hadolint >/dev/null; then
  run "hadolint docker/Dockerfile" hadolint docker/Dockerfile
fi
if [[ -n "$have_yamllint" ]]; then
  run "yamllint" yamllint -s -c deploy/lint/yamllint.yaml \
    docker/docker-compose.yml docker/dualign-cluster.yaml deploy/k8s/*.yaml deploy/lint/yamllint.yaml
fi
if [[ -n "$have_shellcheck" ]]; then
  run "shellcheck deploy/lint.sh" shellcheck deploy/lint.sh
  if [[ -n "$npm_ok" ]]; then
    submit="$(mktemp)"
    trap 'rm -f "$submit"' EXIT
    (cd "$TOOLS" && node --input-type=module -e '
      import fs from "node:fs"; import { parse } from "yaml";
      const c = parse(fs.readFileSync(process.argv[1], "utf8"), { merge: true });
      process.stdout.write(c.services.submit.command.at(-1));' "$ROOT/docker/docker-compose.yml") > "$submit"
    run "shellcheck compose submit script" shellcheck -s bash "$submit"
  fi
fi

# --- summary ---------------------------------------------------------------------------------------
for m in "${missing[@]}"; do echo "deploy/lint.sh: not available: $m" >&2; done
for f in "${failed[@]}"; do echo "deploy/lint.sh: FAILED: $f" >&2; done
echo "deploy lint: ${#passed[@]} passed, ${#failed[@]} failed"
if (( ${#failed[@]} )); then exit 1; fi
if (( ${#missing[@]} )) && [[ "${DUALIGN_LINT_ALLOW_MISSING:-}" != 1 ]]; then exit 1; fi
exit 0
