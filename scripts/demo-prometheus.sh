#!/usr/bin/env bash
# scripts/demo-prometheus.sh <state dir> <port> <host:port>...: for `make demo`, a Prometheus (Debian's package,
# from `infctl dev tools`) on 127.0.0.1:<port> scraping the given processes (gateway, worker, controller) and the
# replicas of every InferenceService, found in their status every 10 s with the labels the chart's engine
# PodMonitor sets (model, role, inference_service, pod, namespace). Runs until it is killed.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="$1/prometheus"
port="$2"
shift 2
mkdir -p "$dir"
prometheus=$(node --import tsx -e "
  import('./src/tools/components.ts').then((t) =>
    console.log(t.binary(t.requireTools(['prometheus']), 'prometheus', 'prometheus')));")
targets=$(printf '"%s",' "$@")
cat > "$dir/prometheus.yml" << YAML
global: { scrape_interval: 5s, evaluation_interval: 5s }
rule_files: ["$PWD/deploy/charts/inference-controller/rules/alerts.yaml"]
scrape_configs:
  - job_name: inference-controller
    static_configs: [{ targets: [${targets%,}] }]
  - job_name: engines
    file_sd_configs: [{ files: ["$dir/engines.json"], refresh_interval: 10s }]
YAML
engines() {
  kubectl get inferenceservice -A -o json 2> /dev/null | node -e '
    let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => {
      const groups = (s ? JSON.parse(s).items : []).flatMap((svc) => (svc.status?.endpoints ?? []).map((e) => ({
        targets: [new URL(e.url).host],
        labels: { model: svc.spec.modelName, role: e.role ?? "both", inference_service: svc.metadata.name,
                  pod: e.name, namespace: svc.metadata.namespace },
      })));
      console.log(JSON.stringify(groups));
    });'
}
engines > "$dir/engines.json.new" && mv "$dir/engines.json.new" "$dir/engines.json"
"$prometheus" --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
  --web.listen-address="127.0.0.1:$port" --log.level=warn &
server=$!
trap 'kill $server 2> /dev/null; wait $server 2> /dev/null' EXIT
trap 'exit 0' INT TERM
while sleep 10; do
  if engines > "$dir/engines.json.new"; then mv "$dir/engines.json.new" "$dir/engines.json"; fi
done
