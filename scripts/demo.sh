#!/usr/bin/env bash
# make demo: the local control plane with kwok GPU nodes, Temporal with its UI and Redis; the worker and the
# controller; the five original examples applied and rolled out. Ctrl-C stops everything it started.
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
logs=$(./bin/infctl dev env | sed -n 's/^export INFCTL_STATE_DIR="\(.*\)"$/\1/p')/logs
eval "$(./bin/infctl dev env)"
pids=()
stop() {
  echo
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2> /dev/null || kill -TERM "$pid" 2> /dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
  if [ "$started" = yes ]; then ./bin/infctl dev down; fi
}
trap stop EXIT
trap 'exit 0' INT TERM

echo "==> starting the worker and the controller (logs in $logs)"
setsid ./bin/infctl worker > "$logs/worker.log" 2>&1 &
pids+=($!)
setsid ./bin/infctl controller --poll-interval 5000 > "$logs/controller.log" 2>&1 &
pids+=($!)
until grep -q "state: 'RUNNING'" "$logs/worker.log" 2> /dev/null; do sleep 1; done

echo "==> applying the five original examples"
kubectl apply -f examples/original
kubectl wait --for=condition=Ready --timeout=180s inferenceservice/llama3-chatbot-service
sleep 3
echo
kubectl get inference
echo
kubectl get deployments,pods -o wide -l production-stack.vllm.ai/inference-service=llama3-chatbot-service
echo
./bin/infctl history InferenceService/default/llama3-chatbot-service
cat << MSG

Running:
  Temporal UI   $TEMPORAL_UI   (workflows InferenceService/default/llama3-chatbot-service, ...)
  shell         eval "\$(./bin/infctl dev env)"
  resources     kubectl get inference
  a change      kubectl patch specdec sd-llama3-chatbot --type=merge -p '{"spec":{"numSpeculativeTokens":3}}'
  its steps     ./bin/infctl history InferenceService/default/llama3-chatbot-service
  overrides     ./bin/infctl pause|resume InferenceService/default/llama3-chatbot-service
  logs          $logs

The gateway, traffic and cache decisions join this demo in later releases. Press Ctrl-C to stop everything.
MSG
if [ -n "${INFCTL_DEMO_EXIT:-}" ]; then exit 0; fi
while true; do sleep 3600; done
