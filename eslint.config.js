// Lint with type information, and the one-way imports between rooms enforced here
// rather than in prose: client → workflows (messages/types) → domain;
// worker → activities → domain. Only activities/ and worker/ perform I/O.
import tseslint from 'typescript-eslint';

const io = ['@kubernetes/*', '@aws-sdk/*', 'node:child_process', 'node:fs', 'node:fs/*', 'node:net', 'node:http', 'node:https'];

/** @param {string[]} groups @param {string} message */
const forbid = (groups, message, allowTypeImports = false) => ({
  '@typescript-eslint/no-restricted-imports': ['error', { patterns: [{ group: groups, message, allowTypeImports }] }],
});

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.scratch/**', 'sandbox/go/**', '.artifacts/**', 'gitops/**', '**/*.js', '**/*.cjs'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test registers suites and tests synchronously; their returned promises are the runner's to await.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }] },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'TSEnumDeclaration', message: 'Use an `as const` object and a union type.' }],
    },
  },
  {
    files: ['domain/**/*.ts'],
    rules: forbid(
      ['node:*', '@temporalio/*', '@kubernetes/*', '@aws-sdk/*', '**/activities/**', '**/workflows/**', '**/worker/**', '**/client/**'],
      'domain/ is the pure contracts room: no I/O, no SDKs, no other rooms.',
    ),
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      ...forbid(
        ['node:*', '@temporalio/worker', '@temporalio/client', '@temporalio/activity', '@kubernetes/*', '@aws-sdk/*', '**/worker/**', '**/client/**'],
        'workflows/ is deterministic orchestration: no I/O, no Node built-ins.',
      ),
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', '@temporalio/worker', '@temporalio/client', '@temporalio/activity', '@kubernetes/*', '@aws-sdk/*', '**/worker/**', '**/client/**'],
              message: 'workflows/ is deterministic orchestration: no I/O, no Node built-ins.',
            },
            { group: ['**/activities/**'], message: 'workflows/ import activities as types only.', allowTypeImports: true },
          ],
        },
      ],
    },
  },
  {
    files: ['activities/**/*.ts'],
    rules: forbid(
      ['@temporalio/workflow', '@temporalio/client', '@temporalio/worker', '**/workflows/**', '**/worker/**', '**/client/**'],
      'activities/ depend only on SDKs and domain/.',
    ),
  },
  {
    files: ['client/**/*.ts'],
    rules: forbid(
      [...io.filter((p) => p !== 'node:http' && p !== 'node:fs' && p !== 'node:fs/*'), '@temporalio/worker', '**/activities/**', '**/worker/**'],
      'client/ talks only to Temporal: it imports workflow messages and domain/, never activities.',
    ),
  },
  {
    // `logstack render` prints `kubectl kustomize` of a local overlay: rendering is local by nature and
    // this one function spawns kubectl. Every other client file stays without child processes.
    files: ['client/local/render.ts'],
    rules: forbid(
      [...io.filter((p) => !['node:http', 'node:fs', 'node:fs/*', 'node:child_process'].includes(p)), '@temporalio/worker', '**/activities/**', '**/worker/**'],
      'client/ talks only to Temporal: it imports workflow messages and domain/, never activities.',
    ),
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'sandbox/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
    },
  },
);
