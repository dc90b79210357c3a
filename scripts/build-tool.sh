#!/usr/bin/env bash
# Builds one real component from its Go module at a pinned version into the tool cache.
# Usage: scripts/build-tool.sh <component> <version> <dest-dir>
# Components: temporal, llm-d-inference-sim, etcd, kubernetes (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl), kwok, helm. Only the Go module proxy is used; nothing else is downloaded.
set -euo pipefail

component=${1:?component}
version=${2:?version}
dest=${3:?destination directory}

final=$dest
# Build into a partial folder and move the binaries in at the end, so an interrupted build never leaves a
# half-written binary where the cache lookup would take it.
dest="${final}.partial.$$"
mkdir -p "$final" "$dest"
work=$(mktemp -d "${TMPDIR:-/tmp}/infctl-build-${component}.XXXXXX")
trap 'rm -rf "$work" "$dest"' EXIT
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

# A wrapper module lets us build main packages whose own go.mod carries `replace` lines
# (which `go install pkg@version` refuses): replaces in dependencies are ignored.
wrapper() {
  local module=$1; shift
  cd "$work"
  printf 'module %s\n\ngo 1.24\n' "$module" > go.mod
  {
    echo '//go:build tools'
    echo
    echo 'package tools'
    echo
    echo 'import ('
    for pkg in "$@"; do echo "	_ \"$pkg\""; done
    echo ')'
  } > tools.go
}

case "$component" in
  temporal)
    GOBIN="$dest" go install -ldflags "-X github.com/temporalio/cli/temporalcli.Version=${version#v}" \
      "github.com/temporalio/cli/cmd/temporal@${version}"
    ;;
  llm-d-inference-sim)
    # `go install ...@version` asks the proxy for the module's version list (deprecation check), which the
    # proxy here refuses for this module; a wrapper module needs only the pinned version.
    wrapper infctl.local/sim-build github.com/llm-d/llm-d-inference-sim/cmd/llm-d-inference-sim
    go mod edit -require="github.com/llm-d/llm-d-inference-sim@${version}"
    go mod tidy
    CGO_ENABLED=0 go build -trimpath -o "$dest/llm-d-inference-sim" github.com/llm-d/llm-d-inference-sim/cmd/llm-d-inference-sim
    ;;
  kwok)
    GOBIN="$dest" go install -ldflags "-X sigs.k8s.io/kwok/pkg/consts.Version=${version}" "sigs.k8s.io/kwok/cmd/kwok@${version}"
    ;;
  helm)
    # What helm's Makefile sets at link time: its version, and the Kubernetes version of its client-go as the
    # default for `helm template` and lint (left unset it is v1.20, which charts' kubeVersion refuse).
    gomod=$(go mod download -json "helm.sh/helm/v3@${version}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    k8s_minor=$(sed -n 's#^\s*k8s.io/client-go v0\.\([0-9]*\)\..*#\1#p' "$gomod")
    ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=${version} -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
    for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
      ldflags+=" -X ${pkg}.k8sVersionMajor=1 -X ${pkg}.k8sVersionMinor=${k8s_minor}"
    done
    GOBIN="$dest" CGO_ENABLED=0 go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@${version}"
    ;;
  etcd)
    wrapper infctl.local/etcd-build go.etcd.io/etcd/server/v3
    for m in server/v3 api/v3 client/pkg/v3 client/v3 pkg/v3; do
      go mod edit -require="go.etcd.io/etcd/${m}@${version}" -replace="go.etcd.io/etcd/${m}=go.etcd.io/etcd/${m}@${version}"
    done
    go mod tidy
    CGO_ENABLED=0 go build -trimpath -o "$dest/etcd" go.etcd.io/etcd/server/v3
    ;;
  kubernetes)
    minor=$(echo "$version" | cut -d. -f2)
    staging_version="v0.${version#v1.}"
    wrapper infctl.local/kubernetes-build \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
    go mod edit -require="k8s.io/kubernetes@${version}"
    # Every staging module k8s.io/kubernetes replaces locally is pointed at its published version.
    gomod=$(go mod download -json "k8s.io/kubernetes@${version}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    for m in $(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod"); do
      go mod edit -replace="${m}=${m}@${staging_version}"
    done
    go mod tidy
    build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    ldflags=""
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X ${pkg}.gitVersion=${version} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
      ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=${build_date}"
    done
    for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
      echo "building ${cmd} ${version}"
      CGO_ENABLED=0 go build -trimpath -ldflags "-s -w ${ldflags}" -o "$dest/$cmd" "k8s.io/kubernetes/cmd/$cmd"
    done
    ;;
  *)
    echo "unknown component: $component" >&2
    exit 2
    ;;
esac
mv -f "$dest"/* "$final"/
echo "built ${component} ${version} into ${final}"
