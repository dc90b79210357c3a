#!/usr/bin/env bash
# make demo: the local control plane, Temporal with its UI and Redis; the worker (replicas and the InferenceGateway's
# gateway as local processes) and the controller; the five original examples rolled out; then a short generated load
# with a hot spot, so the InferenceCache loop's hit rates move and its first decision fires. Ctrl-C stops
# everything it started and deletes what it applied.
set -euo pipefail
cd "$(dirname "$0")/.."
./bin/infctl validate examples/original
echo
started=no
if ! ./bin/infctl dev status > /dev/null 2>&1; then
  ./bin/infctl dev down > /dev/null 2>&1 || true
  ./bin/infctl dev up --runtime process
  started=yes
fi
eval "$(./bin/infctl dev env)"
logs="$INFCTL_STATE_DIR/logs"
# The demo's replicas are local simulator processes, whichever runtime the environment was started with.
export INFCTL_RUNTIME=process
# Three distinct free ports: all held open at once while they are picked (one at a time, the kernel may hand the
# same port out twice).
free_ports() {
  node -e "const net=require('net');const n=+process.argv[1];const ss=[];const done=()=>{console.log(ss.map(s=>s.address().port).join(' '));ss.forEach(s=>s.close())};for(let i=0;i<n;i++){const s=net.createServer();ss.push(s);s.listen(0,'127.0.0.1',()=>{if(ss.every(x=>x.listening))done()})}" "$1"
}
read -r metrics_port controller_metrics_port prometheus_port < <(free_ports 3)
export INFCTL_WORKER_METRICS_ADDRESS="127.0.0.1:$metrics_port"
export INFCTL_CONTROLLER_METRICS_ADDRESS="127.0.0.1:$controller_metrics_port"
# The worker starts the InferenceGateway's gateway as a local process (state in $INFCTL_STATE_DIR/gateways) and
# finds its admin API from the InferenceGateway's status; nothing is started by hand.
unset INFCTL_GATEWAY_ADMIN_URLS INFCTL_GATEWAY_ADMIN_TOKEN

pids=()
applied=no
stop() {
  trap - INT TERM
  echo
  if [ "$applied" = yes ]; then
    echo "==> deleting the examples (their workflows stop the replica processes)"
    kubectl delete -f examples/original --wait=true --timeout=60s > /dev/null 2>&1 || true
  fi
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2> /dev/null || kill -TERM "$pid" 2> /dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
  if [ "$started" = yes ]; then ./bin/infctl dev down; fi
}
trap stop EXIT
trap 'exit 0' INT TERM

echo "==> starting the worker and the controller (logs in $logs)"
setsid ./bin/infctl worker > "$logs/worker.log" 2>&1 &
pids+=($!)
setsid ./bin/infctl controller --poll-interval 2000 > "$logs/controller.log" 2>&1 &
pids+=($!)
# Both ready (connected to Temporal; the controller's informers synced), or the one that exited and why.
for component in worker controller; do
  [ "$component" = worker ] && address=$INFCTL_WORKER_METRICS_ADDRESS pid=${pids[0]}
  [ "$component" = controller ] && address=$INFCTL_CONTROLLER_METRICS_ADDRESS pid=${pids[1]}
  until curl -sf -o /dev/null "http://$address/readyz"; do
    if ! kill -0 "$pid" 2> /dev/null; then
      echo "the $component exited; the end of $logs/$component.log:" >&2
      tail -20 "$logs/$component.log" >&2
      exit 1
    fi
    sleep 1
  done
done

# The original examples with what a laptop needs: simulator replicas instead of `vllm serve` (two prefill and
# one decode, from the P/D example), the semantic cache on the local Redis, and a cache loop paced for a demo.
patched() { kubectl patch --local -f "examples/original/$1" --type=merge -p "$2" -o yaml; }
echo "==> applying the five original examples (engine: simulator; cache loop polling every 2s)"
{
  patched inference-service.yaml \
    "{\"spec\":{\"runtime\":{\"engine\":\"simulator\"},\"nlpFilters\":{\"semanticCache\":{\"storeRef\":\"$REDIS_URL\"}}}}"
  echo ---
  patched prefill-decoding-disaggregation.yaml '{"spec":{"prefill":{"replicas":2}}}'
  echo ---
  patched inference-cache.yaml \
    '{"spec":{"pollInterval":"2s","window":"20s","kvCacheTransferPolicy":{"sustainedPolls":2,"cooldown":"2m"}}}'
  echo ---
  if [ -n "${INFCTL_DEMO_GATEWAY_PORT:-}" ]; then
    patched inference-gateway.yaml "{\"spec\":{\"listener\":{\"port\":$INFCTL_DEMO_GATEWAY_PORT}}}"
  else
    cat examples/original/inference-gateway.yaml
  fi
  echo ---
  cat examples/original/speculative-decoding.yaml
} | kubectl apply -f -
applied=yes
kubectl wait --for=condition=Ready --timeout=180s inferenceservice/llama3-chatbot-service
# The gateway process the worker started: spec.listener.port (8080), or a free port while that one is taken.
for i in $(seq 1 60); do
  gateway=$(kubectl get inferencegateway llm-gateway -o jsonpath='{.status.address}')
  if [ -n "$gateway" ] && curl -sf -o /dev/null "$gateway/health"; then break; fi
  if [ "$i" = 60 ]; then
    echo "the InferenceGateway's gateway did not answer within 60 s; see $INFCTL_STATE_DIR/gateways/default/llm-gateway.log" >&2
    exit 1
  fi
  sleep 1
done
echo "==> the InferenceGateway's gateway answers at $gateway (admin API $(kubectl get inferencegateway llm-gateway -o jsonpath='{.status.adminUrl}'))"
kubectl wait --for=condition=Ready --timeout=30s prefilldecodingdisaggregation/pdd-llama3-chatbot || true
echo
kubectl get inference
echo
kubectl get inferenceservice llama3-chatbot-service \
  -o jsonpath='{range .status.endpoints[*]}{.name}{"\t"}{.role}{"\t"}{.url}{"\n"}{end}'
echo

request='{"model":"llama3-70b","max_tokens":12,"messages":[{"role":"user","content":"What is a KV cache?"}]}'
for i in $(seq 1 60); do
  if curl -sf -o /dev/null "$gateway/v1/chat/completions" -H 'content-type: application/json' \
    -H 'x-semantic-cache-bypass: 1' -d "$request"; then
    break
  fi
  if [ "$i" = 60 ]; then
    echo "the gateway did not serve llama3-70b within 60 s; see $INFCTL_STATE_DIR/gateways/default/llm-gateway.log" >&2
    exit 1
  fi
  sleep 1
done
for attempt in first second; do
  echo "==> the $attempt request through the gateway ($gateway): prefill, decode, then the semantic cache"
  curl -s -D - "$gateway/v1/chat/completions" -H 'content-type: application/json' -d "$request" |
    grep -iE '^(x-inference-endpoint|x-prefill-endpoint|x-cache)|choices' | cut -c1-160
done
echo

echo "==> Prometheus on http://127.0.0.1:$prometheus_port (the demo's processes and replicas, the alert rules)"
setsid scripts/demo-prometheus.sh "$INFCTL_STATE_DIR" "$prometheus_port" "${gateway#http://}" \
  "$INFCTL_WORKER_METRICS_ADDRESS" "$INFCTL_CONTROLLER_METRICS_ADDRESS" > "$logs/prometheus.log" 2>&1 &
pids+=($!)

echo "==> generated load: 2 at a time, 28 documents of 900 words the gateway sends to one prefill replica"
./bin/infctl load --url "$gateway" --model llama3-70b --hot-spot --prompts 28 --words 900 --concurrency 2 \
  --duration 150s > "$logs/load.log" 2>&1 &
load=$!
pids+=($load)
cache_line() {
  kubectl get inferencecache llama3-chatbot-cache -o json | node -e '
    let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => {
      const st = JSON.parse(s).status ?? {};
      const pct = (x) => (x === undefined ? "-" : (x * 100).toFixed(1) + "%");
      const replicas = (st.replicas ?? []).map((r) => `${r.name.replace("chatbot-service-backend-", "")} ${pct(r.hitRate)}`);
      const last = st.lastAction ? `${st.lastAction.action} ${st.lastAction.target}` : "none yet";
      console.log(`pool hit rate ${pct(st.poolHitRate)} | ${replicas.join(", ")} | last action: ${last}`);
    });'
}
decided=""
for i in $(seq 1 40); do
  sleep 3
  echo "  t=$((i * 3))s  $(cache_line)"
  action=$(kubectl get inferencecache llama3-chatbot-cache -o jsonpath='{.status.lastAction.action}')
  if [ -n "$action" ] && [ -z "$decided" ]; then decided=$i; fi
  if [ -n "$decided" ] && [ $((i - decided)) -ge 8 ]; then break; fi
done
echo
if [ -n "$decided" ]; then
  echo "==> the first decision"
  kubectl get inferencecache llama3-chatbot-cache -o jsonpath='{.status.lastAction}' | node -e '
    let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => {
      const a = JSON.parse(s);
      console.log(`  ${a.action} ${a.target} at ${a.time}${a.manual ? " (manual)" : ""}`);
      console.log(`  why: ${a.reason}`);
      if (a.effect) console.log(`  effect: ${a.effect}`);
    });'
  ./bin/infctl history InferenceCache/default/llama3-chatbot-cache | grep -E 'evictCache|transferCache' | head -5
else
  echo "==> no decision within 120 s: see $logs/worker.log and $logs/load.log"
fi
echo
echo "==> the load so far ($logs/load.log)"
tail -n 3 "$logs/load.log"
cat << MSG

Running:
  gateway       curl $gateway/v1/chat/completions -H 'content-type: application/json' \\
                  -d '$request'
  Temporal UI   $TEMPORAL_UI   (workflow InferenceCache/default/llama3-chatbot-cache: every poll and action)
  shell         eval "\$(./bin/infctl dev env)"
  resources     kubectl get inference
  decisions     ./bin/infctl history InferenceCache/default/llama3-chatbot-cache
  overrides     ./bin/infctl evict InferenceCache/default/llama3-chatbot-cache <replica> [reason]
                ./bin/infctl transfer InferenceCache/default/llama3-chatbot-cache <from> <to> [reason]
                ./bin/infctl set-policy InferenceCache/default/llama3-chatbot-cache thresholdHitRate=0.5 expiresIn=10m
                ./bin/infctl pause-actions|resume-actions InferenceCache/default/llama3-chatbot-cache
  more load     ./bin/infctl load --url $gateway --model llama3-70b --hot-spot
  metrics       $gateway/metrics (gateway)   http://$INFCTL_WORKER_METRICS_ADDRESS/metrics (worker, and /readyz)
                http://$INFCTL_CONTROLLER_METRICS_ADDRESS/metrics (controller)
  prometheus    http://127.0.0.1:$prometheus_port   (scrapes all of them and the replicas; alerts at /alerts)
  dashboards    deploy/charts/inference-controller/dashboards/*.json (import into Grafana with that Prometheus)
  alert rules   deploy/charts/inference-controller/rules/alerts.yaml
  logs          $logs

Press Ctrl-C to stop everything.
MSG
if [ -n "${INFCTL_DEMO_EXIT:-}" ]; then exit 0; fi
while true; do sleep 3600; done
