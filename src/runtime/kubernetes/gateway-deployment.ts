/**
 * The gateway an InferenceGateway describes, on Kubernetes: a Deployment of `infctl gateway` with spec.replicas,
 * a Service on spec.listener.port (and the admin port), the admin token in a Secret generated once, and a
 * ServiceAccount bound to the chart's gateway ClusterRole in the gateway's namespace only. Everything carries an
 * owner reference to the InferenceGateway, so deleting it cleans up.
 */
import { randomBytes } from 'node:crypto';
import { API_VERSION, KIND_INFERENCE_GATEWAY, LABELS } from '../../api/index.ts';
import type { GatewayDeployment, GatewayRuntime, GatewayTarget } from '../gateway-runtime.ts';
import { KubeApiError, paths, type KubeClient } from '../../kube/client.ts';
import type { KubeObject } from '../../kube/objects.ts';

/** The admin API's port inside the pod and on the Service. */
const GATEWAY_ADMIN_PORT = 9090;
const TOKEN_DIR = '/var/run/infctl-gateway-admin';

export interface KubernetesGatewayOptions {
  /** The gateway image (entry point `infctl`): INFCTL_GATEWAY_IMAGE, the chart sets its own image. */
  image: string;
  /** The ClusterRole the gateway's ServiceAccount is bound to in its namespace (the chart's `-gateway` role). */
  clusterRole: string;
  imagePullPolicy?: string;
}

type Json = Record<string, unknown>;

/** The name of every object of a gateway: `<InferenceGateway>-gateway`. */
const gatewayObjectName = (name: string) => `${name}-gateway`;

interface DeploymentStatus extends KubeObject {
  status?: { readyReplicas?: number };
}

export class KubernetesGatewayRuntime implements GatewayRuntime {
  constructor(
    private readonly kube: KubeClient,
    private readonly options: KubernetesGatewayOptions,
  ) {}

  async deployGateway(target: GatewayTarget): Promise<GatewayDeployment> {
    const { namespace: ns, name, spec } = target;
    const owner = await this.kube.get(paths.custom('inferencegateways', ns, name));
    const objectName = gatewayObjectName(name);
    const meta = (extra: Json = {}) => ({
      name: objectName,
      namespace: ns,
      labels: gatewayLabels(name),
      ownerReferences: [
        {
          apiVersion: API_VERSION,
          kind: KIND_INFERENCE_GATEWAY,
          name,
          uid: owner.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      ...extra,
    });
    const applied: string[] = [];
    const secret = `${objectName}-admin`;
    if (await this.ensureSecret(ns, secret, { ...meta(), name: secret })) applied.push(`Secret/${secret}`);
    await this.kube.apply(paths.serviceAccount(ns, objectName), {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: meta(),
    });
    await this.kube.apply(paths.roleBinding(ns, objectName), {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: this.options.clusterRole },
      subjects: [{ kind: 'ServiceAccount', name: objectName, namespace: ns }],
    });
    await this.kube.apply(paths.deployment(ns, objectName), this.deployment(target, meta(), secret));
    await this.kube.apply(paths.service(ns, objectName), {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(),
      spec: {
        selector: selectorLabels(name),
        ports: [
          { name: 'http', port: spec.listener.port, targetPort: 'http' },
          { name: 'admin', port: GATEWAY_ADMIN_PORT, targetPort: 'admin' },
        ],
      },
    });
    applied.push(
      `ServiceAccount/${objectName}`,
      `RoleBinding/${objectName}`,
      `Deployment/${objectName}`,
      `Service/${objectName}`,
    );
    const deployment = await this.kube.find<DeploymentStatus>(paths.deployment(ns, objectName));
    const host = `${objectName}.${ns}.svc`;
    return {
      address: `http://${host}:${spec.listener.port}`,
      adminUrl: `http://${host}:${GATEWAY_ADMIN_PORT}`,
      adminSecret: secret,
      replicas: spec.replicas,
      readyReplicas: deployment?.status?.readyReplicas ?? 0,
      applied,
    };
  }

  /** Nothing to stop: the objects' owner references let the garbage collector delete them with the gateway. */
  deleteGateway(): Promise<string[]> {
    return Promise.resolve([]);
  }

  /** The token in the Secret status.adminSecret names (its `token` key). */
  async adminToken(ns: string, _name: string, status: { adminSecret?: string }): Promise<string | undefined> {
    if (!status.adminSecret) return undefined;
    const s = await this.kube.find<KubeObject & { data?: Record<string, string> }>(
      paths.secret(ns, status.adminSecret),
    );
    // Gone (the InferenceGateway is being deleted): no gateway to shift ownership in.
    return s ? secretToken(s, `Secret ${ns}/${status.adminSecret}`) : undefined;
  }

  /** Creates the admin token's Secret unless it exists: generated once, kept across restarts and re-applies. */
  private async ensureSecret(ns: string, name: string, metadata: Json): Promise<boolean> {
    if (await this.kube.find(paths.secret(ns, name))) return false;
    try {
      await this.kube.request('POST', paths.secrets(ns), {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata,
        type: 'Opaque',
        stringData: { token: randomBytes(32).toString('hex') },
      });
      return true;
    } catch (err) {
      // Another attempt of this activity created it first: the token it wrote stands.
      if (err instanceof KubeApiError && err.status === 409) return false;
      throw err;
    }
  }

  private deployment(target: GatewayTarget, metadata: Json, secret: string): Json {
    const { namespace: ns, name, spec } = target;
    const probe = (path: string) => ({ httpGet: { path, port: 'http' }, periodSeconds: 10 });
    return {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata,
      spec: {
        replicas: spec.replicas,
        selector: { matchLabels: selectorLabels(name) },
        template: {
          metadata: { labels: gatewayLabels(name) },
          spec: {
            serviceAccountName: gatewayObjectName(name),
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 10001,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            containers: [
              {
                name: 'gateway',
                image: this.options.image,
                ...(this.options.imagePullPolicy ? { imagePullPolicy: this.options.imagePullPolicy } : {}),
                args: [
                  'gateway',
                  '--gateway',
                  `${ns}/${name}`,
                  '--namespace',
                  ns,
                  '--port',
                  String(spec.listener.port),
                  '--admin-port',
                  String(GATEWAY_ADMIN_PORT),
                  '--admin-host',
                  '0.0.0.0',
                  '--admin-token-file',
                  `${TOKEN_DIR}/token`,
                ],
                ports: [
                  { name: 'http', containerPort: spec.listener.port },
                  { name: 'admin', containerPort: GATEWAY_ADMIN_PORT },
                ],
                readinessProbe: probe('/health'),
                livenessProbe: probe('/health'),
                volumeMounts: [{ name: 'admin-token', mountPath: TOKEN_DIR, readOnly: true }],
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'] },
                },
              },
            ],
            volumes: [{ name: 'admin-token', secret: { secretName: secret } }],
          },
        },
      },
    };
  }
}

function selectorLabels(name: string): Record<string, string> {
  return { [LABELS.instance]: gatewayObjectName(name), 'app.kubernetes.io/component': 'gateway' };
}

function gatewayLabels(name: string): Record<string, string> {
  return {
    ...selectorLabels(name),
    [LABELS.managedBy]: 'inference-controller',
    'production-stack.vllm.ai/inference-gateway': name,
  };
}

/** The admin token in a Secret's `token` key; a Secret without one is an error naming it. */
export function secretToken(secret: { data?: Record<string, string> }, what: string): string {
  const token = secret.data?.token;
  if (!token) throw new Error(`${what} has no "token" key`);
  return Buffer.from(token, 'base64').toString('utf8');
}
