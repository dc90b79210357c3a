#!/usr/bin/env bash
# make demo: the local environment with the example resources applied. The engine (controller and worker)
# joins this demo when it lands; until then it shows the real control plane, Temporal and Redis the product
# runs on, with the five resources stored and validated by the API server. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
./bin/infctl validate examples/original
echo
started=no
if ! ./bin/infctl dev status > /dev/null 2>&1; then
  ./bin/infctl dev down > /dev/null 2>&1 || true
  ./bin/infctl dev up
  started=yes
fi
stop() { if [ "$started" = yes ]; then echo; ./bin/infctl dev down; fi; }
trap stop EXIT
trap 'exit 0' INT TERM
eval "$(./bin/infctl dev env)"
kubectl apply -f examples/original
echo
kubectl get inference
cat <<MSG

The local environment is up:
  Temporal UI   $TEMPORAL_UI
  Kubernetes    eval "\$(./bin/infctl dev env)"; kubectl get inference
  GPU nodes     kubectl get nodes -L nvidia.com/gpu.product,topology.kubernetes.io/zone
  Redis         $REDIS_URL

Press Ctrl-C to stop everything this demo started.
MSG
if [ -n "${INFCTL_DEMO_EXIT:-}" ]; then exit 0; fi
while true; do sleep 3600; done
