// @ts-check
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/', 'node_modules/', 'data/', 'openapi/', 'bench/results/', '.venv-ci/', '.venv/', 'schemathesis-report/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // A forgotten await on a Temporal call or a permit release is a silent bug.
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's runner awaits these itself.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // The dashboard page's own script: plain browser JavaScript, outside the TypeScript project.
    files: ['ui/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      sourceType: 'module',
      parserOptions: { projectService: false },
      globals: Object.fromEntries(
        ['document', 'window', 'location', 'fetch', 'sessionStorage', 'AbortController', 'TextDecoderStream', 'URLSearchParams', 'Node', 'setTimeout', 'setInterval', 'clearTimeout'].map(
          (name) => [name, 'readonly'],
        ),
      ),
    },
  },
  {
    // Test assertions read loosely typed JSON answers.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Workflow code and the pure modules it imports run in Temporal's deterministic sandbox.
    files: ['src/temporal/workflows/**/*.ts', 'src/temporal/messages.ts', 'src/temporal/permit-id.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity', 'pino', 'zod'].map((name) => ({
            name,
            message: 'Workflow code may import only @temporalio/workflow, @temporalio/common and pure modules.',
          })),
          patterns: [
            {
              group: ['node:*', ...builtinModules],
              message: 'Node built-ins are not deterministic and are unavailable in the workflow sandbox.',
            },
            {
              group: ['**/permits/*', '**/http/*', '**/client/*'],
              message: 'Workflow code shares only pure modules under src/temporal (messages.ts, permit-id.ts) with the service.',
            },
          ],
        },
      ],
    },
  },
);
