/** The local cluster's certificates and credentials: a CA, the API server's certificate, an admin token. */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.error) throw new Error(`openssl is needed to create the local certificates: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

/** A local CA, the API server's serving certificate, the service-account key pair and an admin token. */
export function createPki(dir: string): { token: string } {
  const pki = join(dir, 'pki');
  mkdirSync(pki, { recursive: true });
  if (!existsSync(join(pki, 'ca.crt'))) {
    openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        'ca.key',
        '-out',
        'ca.crt',
        '-days',
        '3650',
        '-subj',
        '/CN=infctl-dev-ca',
      ],
      pki,
    );
    writeFileSync(
      join(pki, 'san.cnf'),
      'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1\n',
    );
    openssl(
      [
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        'apiserver.key',
        '-out',
        'apiserver.csr',
        '-subj',
        '/CN=kube-apiserver',
      ],
      pki,
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        'apiserver.csr',
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        'apiserver.crt',
        '-days',
        '3650',
        '-extfile',
        'san.cnf',
      ],
      pki,
    );
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(pki, 'sa.key'), privateKey.export({ type: 'pkcs1', format: 'pem' }));
    writeFileSync(join(pki, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(join(pki, 'admin.token'), randomBytes(24).toString('hex'));
  }
  const token = readFileSync(join(pki, 'admin.token'), 'utf8').trim();
  // The admin is a member of system:masters; everything else goes through RBAC.
  writeFileSync(join(pki, 'tokens.csv'), `${token},infctl-admin,infctl-admin,"system:masters"\n`);
  return { token };
}

export function writeKubeconfig(dir: string, port: number, token: string): string {
  const path = join(dir, 'kubeconfig');
  const ca = readFileSync(join(dir, 'pki', 'ca.crt')).toString('base64');
  writeFileSync(
    path,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'infctl-dev',
          cluster: { server: `https://127.0.0.1:${port}`, 'certificate-authority-data': ca },
        },
      ],
      users: [{ name: 'infctl-admin', user: { token } }],
      contexts: [
        {
          name: 'infctl-dev',
          context: { cluster: 'infctl-dev', user: 'infctl-admin', namespace: 'default' },
        },
      ],
      'current-context': 'infctl-dev',
    }),
    { mode: 0o600 },
  );
  return path;
}
