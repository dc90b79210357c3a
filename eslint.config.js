import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'crds/', '.state/', 'dist/'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'smart'],
    },
  },
  {
    // Numeric kernels (scoring loops, the embedding model) index typed arrays inside bounds they just
    // checked; with noUncheckedIndexedAccess a non-null assertion is the plain way to say so.
    files: [
      'src/gateway/scheduling/**/*.ts',
      'src/gateway/embedding/minilm.ts',
      'src/gateway/embedding/embedder.ts',
    ],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    // What the workflows import is evaluated again for every workflow a worker caches: zod, yaml and the
    // schemas of src/api cost ~1.8 MiB a workflow (bench/RESULTS.md, "Scale"); a module outside src/workflows
    // is imported only when it is known to be small and zod-free. Types are free.
    files: ['src/workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                'zod',
                'zod/*',
                'yaml',
                '../*/*',
                '../*/*/*',
                '!../api/duration.ts',
                '!../api/reasons.ts',
                '!../temporal/search-attributes.ts',
              ],
              allowTypeImports: true,
              message:
                'workflow code imports at run time only @temporalio/*, its own modules, api/duration.ts, api/reasons.ts and temporal/search-attributes.ts (import type is fine)',
            },
          ],
        },
      ],
    },
  },
  {
    // Tests and benchmarks index what they just built; a failing lookup fails the test either way.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
