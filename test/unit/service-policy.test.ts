import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_SERVICE_POLICY,
  endpointAllowed,
  InferenceServiceSpecSchema,
  podTemplateGrants,
  servicePolicyFromEnv,
  servicePolicyProblems,
} from '../../src/api/index.ts';
import { filtersFrom } from '../../src/gateway/routes/filters-config.ts';

const spec = (extra: Record<string, unknown>) =>
  InferenceServiceSpecSchema.parse({ modelName: 'm', ...extra });

describe('pod-template policy', () => {
  it('names every privilege an overlay grants, with its path', () => {
    const grants = podTemplateGrants({
      spec: {
        hostPID: true,
        hostIPC: true,
        serviceAccountName: 'admin',
        securityContext: { sysctls: [{ name: 'kernel.shm_rmid_forced', value: '1' }] },
        volumes: [
          { name: 'ok', emptyDir: {} },
          { name: 'root', hostPath: { path: '/' } },
        ],
        initContainers: [{ name: 'init', securityContext: { capabilities: { add: ['SYS_ADMIN'] } } }],
        containers: [
          { name: 'vllm', ports: [{ containerPort: 8000, hostPort: 80 }] },
          {
            name: 'side',
            securityContext: { seccompProfile: { type: 'Unconfined' }, procMount: 'Unmasked' },
          },
        ],
      },
    });
    assert.deepEqual(
      grants.map((g) => `${g.privilege} ${g.path}`),
      [
        'hostPID spec.runtime.podTemplate.spec.hostPID',
        'hostIPC spec.runtime.podTemplate.spec.hostIPC',
        'serviceAccountName spec.runtime.podTemplate.spec.serviceAccountName',
        'hostPath spec.runtime.podTemplate.spec.volumes[1].hostPath',
        'sysctls spec.runtime.podTemplate.spec.securityContext.sysctls',
        'hostPort spec.runtime.podTemplate.spec.containers[0].ports[0].hostPort',
        'procMount spec.runtime.podTemplate.spec.containers[1].securityContext.procMount',
        'unconfined spec.runtime.podTemplate.spec.containers[1].securityContext.seccompProfile.type',
        'capabilities spec.runtime.podTemplate.spec.initContainers[0].securityContext.capabilities.add',
      ],
    );
  });

  it('leaves ordinary overlays alone (tolerations, node selectors, resources, dropped capabilities)', () => {
    const problems = servicePolicyProblems(
      spec({
        runtime: {
          podTemplate: {
            spec: {
              nodeSelector: { a: 'b' },
              tolerations: [{ key: 'gpu', operator: 'Exists' }],
              containers: [
                {
                  name: 'vllm',
                  securityContext: { privileged: false, capabilities: { drop: ['ALL'] } },
                  resources: { limits: { memory: '1Gi' } },
                },
              ],
            },
          },
        },
      }),
      DEFAULT_SERVICE_POLICY,
    );
    assert.deepEqual(problems, []);
  });

  it('refuses a privileged overlay unless the operator allows that privilege by name', () => {
    const s = spec({ runtime: { podTemplate: { spec: { hostNetwork: true } } } });
    const [problem] = servicePolicyProblems(s, DEFAULT_SERVICE_POLICY);
    assert.match(
      problem ?? '',
      /^spec\.runtime\.podTemplate\.spec\.hostNetwork: a pod-template overlay may not grant the host network namespace/,
    );
    assert.match(problem ?? '', /INFCTL_POD_TEMPLATE_ALLOW=hostNetwork/);
    const allowed = servicePolicyFromEnv({ INFCTL_POD_TEMPLATE_ALLOW: 'hostNetwork' });
    assert.deepEqual(servicePolicyProblems(s, allowed), []);
    assert.deepEqual(servicePolicyProblems(s, servicePolicyFromEnv({ INFCTL_POD_TEMPLATE_ALLOW: '*' })), []);
  });

  it('rejects an unknown privilege name in the setting, naming it', () => {
    assert.throws(
      () => servicePolicyFromEnv({ INFCTL_POD_TEMPLATE_ALLOW: 'hostNetwork,root' }),
      /INFCTL_POD_TEMPLATE_ALLOW: unknown privilege "root"/,
    );
  });
});

describe('semantic-cache endpoint allow-list', () => {
  it('allows loopback and in-cluster Services, and hosts the operator lists', () => {
    for (const url of [
      'redis://127.0.0.1:6379',
      'redis://localhost:6379',
      'http://[::1]:8080/v1/embeddings',
      'redis://redis.cache.svc:6379',
      'http://embedder.ml.svc.cluster.local/v1/embeddings',
    ])
      assert.equal(endpointAllowed(url, []), true, url);
    for (const url of [
      'redis://10.0.0.5:6379',
      'http://169.254.169.254/latest',
      'rediss://cache.example.com',
    ])
      assert.equal(endpointAllowed(url, []), false, url);
    assert.equal(endpointAllowed('rediss://cache.example.com', ['*.example.com']), true);
    assert.equal(endpointAllowed('rediss://cache.example.com', ['cache.example.com']), true);
    assert.equal(endpointAllowed('rediss://evil-example.com', ['*.example.com']), false);
  });

  it('marks a storeRef URL and an embeddingEndpoint outside the allow-list, naming the field', () => {
    const s = spec({
      nlpFilters: {
        semanticCache: {
          storeRef: 'redis://10.1.2.3:6379',
          embeddingEndpoint: 'http://169.254.169.254/v1/embeddings',
        },
      },
    });
    const problems = servicePolicyProblems(s, DEFAULT_SERVICE_POLICY);
    assert.equal(problems.length, 2);
    assert.match(
      problems[0] ?? '',
      /^spec\.nlpFilters\.semanticCache\.storeRef: "redis:\/\/10\.1\.2\.3:6379" is neither/,
    );
    assert.match(problems[1] ?? '', /^spec\.nlpFilters\.semanticCache\.embeddingEndpoint: /);
    // A Service name is always in-cluster.
    assert.deepEqual(
      servicePolicyProblems(
        spec({ nlpFilters: { semanticCache: { storeRef: 'redis' } } }),
        DEFAULT_SERVICE_POLICY,
      ),
      [],
    );
  });
});

describe('the gateway side of the endpoint allow-list', () => {
  it('configures no semantic cache for a cluster resource pointing outside, and keeps the prompt guard', () => {
    const nlpFilters = {
      semanticCache: { storeRef: 'redis://203.0.113.7:6379', threshold: 0.9, ttlSeconds: 60 },
      promptGuard: { blockedPatterns: ['SSN'] },
    } as Parameters<typeof filtersFrom>[0];
    const fromCluster = filtersFrom(nlpFilters, 'ns', []);
    assert.equal(fromCluster.semanticCache, undefined);
    assert.equal(fromCluster.promptGuard?.length, 1);
    assert.equal(
      filtersFrom(nlpFilters, 'ns', ['203.0.113.7']).semanticCache?.redisUrl,
      'redis://203.0.113.7:6379',
    );
    // Static routes are the operator's own file: no allow-list applies.
    assert.equal(filtersFrom(nlpFilters, 'ns').semanticCache?.redisUrl, 'redis://203.0.113.7:6379');
  });
});
