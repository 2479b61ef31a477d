#!/usr/bin/env bash
# Every manifest of deploy/kubernetes validates offline against the
# Kubernetes schemas (npm's kubernetes-models, installed by scripts/deps.sh
# into tests/deploy/validate/node_modules), with unknown fields refused; and
# so does what kustomize renders from kustomization.yaml (kubectl's built-in
# kustomize, when kubectl is there: it needs no cluster for that).
#
# usage: manifests_test.sh SOURCE_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SRC=$(realpath "$1")
V=$SRC/tests/deploy/validate
command -v node >/dev/null || skip "node is not installed (scripts/deps.sh installs it)"
[[ -d $V/node_modules/kubernetes-models ]] || skip "kubernetes-models is not installed: run scripts/deps.sh (npm ci in $V)"

step "validate deploy/kubernetes/*.yaml"
(cd "$SRC" && node "$V/validate.mjs" deploy/kubernetes/*.yaml) || fail "a manifest is invalid"
if command -v kubectl >/dev/null; then
  step "kubectl kustomize deploy/kubernetes | validate"
  out=$(mktemp /tmp/sockwire-kustomize-XXXXXX.yaml)
  trap 'rm -f "$out"' EXIT
  kubectl kustomize "$SRC/deploy/kubernetes" >"$out" || fail "kustomize failed"
  node "$V/validate.mjs" "$out" || fail "the kustomize output is invalid"
else
  echo "  (kubectl absent: the kustomize rendering is not checked)"
fi
step "passed"
