import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';

const NodesFileSchema = z.strictObject({
  labelKeys: z.strictObject({ gpuType: z.string().min(1), zone: z.string().min(1) }),
  gpuResource: z.string().min(1).default('nvidia.com/gpu'),
  nodes: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/),
        gpuType: z.string().min(1),
        zone: z.string().min(1),
        gpus: z.int().min(0),
        cpu: z.string().default('64'),
        memory: z.string().default('512Gi'),
      }),
    )
    .min(1),
});

export type NodesFile = z.infer<typeof NodesFileSchema>;

export function loadNodes(file: string): NodesFile {
  const result = NodesFileSchema.safeParse(parse(readFileSync(file, 'utf8')));
  if (!result.success) {
    throw new Error(
      `${file}: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return result.data;
}

/** Node objects kwok takes over (it manages nodes carrying the kwok annotation) with GPU capacity. */
export function nodeManifests(config: NodesFile): object[] {
  return config.nodes.map((n) => {
    const resources = { cpu: n.cpu, memory: n.memory, pods: '110', [config.gpuResource]: String(n.gpus) };
    return {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: n.name,
        annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
        labels: {
          'kubernetes.io/hostname': n.name,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          'node.kubernetes.io/instance-type': 'kwok',
          type: 'kwok',
          [config.labelKeys.gpuType]: n.gpuType,
          [config.labelKeys.zone]: n.zone,
        },
      },
      status: { allocatable: resources, capacity: resources },
    };
  });
}
