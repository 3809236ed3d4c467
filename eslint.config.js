// Lint with type information, and the rooms of the README enforced here rather than in prose:
// client → workflows (messages, types) → domain; worker → activities → domain; worker and client → codec →
// domain. workflows/ and activities/ meet only in domain/ (the activity contract). Only activities/, worker/
// and client/ perform I/O. No product room imports sandbox/, test/, bench/ or experiments/, and the imports
// of the product rooms form no cycle.
import { builtinModules } from 'node:module';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/** The rooms that make up the product (the image); everything else is tooling around it. */
const PRODUCT_ROOMS = ['domain', 'workflows', 'activities', 'worker', 'client', 'codec'];
const filesOf = (/** @type {string[]} */ rooms) => rooms.map((r) => `${r}/**/*.ts`);
const rooms = (/** @type {string[]} */ names) => names.map((r) => `**/${r}/**`);

/** Every Node built-in, bare and `node:`-prefixed (a few exist only prefixed). */
const NODE_BUILTINS = [...new Set(builtinModules.flatMap((m) => (m.startsWith('node:') ? [m] : [m, `node:${m}`])))];

const io = [
  '@kubernetes/*',
  '@aws-sdk/*',
  'node:child_process',
  'node:fs',
  'node:fs/*',
  'node:net',
  'node:http',
  'node:https',
];

/** The SDK's test environments: a devDependency, for tests and benchmarks only. */
const TEST_SDK = '@temporalio/testing';

/**
 * @typedef {object} Room
 * @property {string} message why the room is restricted, shown with every violation
 * @property {boolean} [builtins] forbid every Node built-in
 * @property {string[]} [groups] forbidden import patterns (gitignore style)
 * @property {string} [allowOnly] a regex matched at the start of an import source: the only sources allowed
 */

/**
 * The one `no-restricted-imports` rule of a room. A later config object for the same files replaces a
 * rule whole, so each room states every restriction in one place: its own, Node built-ins when it may use
 * none, and the tooling rooms no product room may import.
 * @param {Room} room
 */
const restrict = ({ message, builtins = false, groups = [], allowOnly }) => ({
  '@typescript-eslint/no-restricted-imports': [
    'error',
    {
      paths: builtins ? NODE_BUILTINS.map((name) => ({ name, message: `${message} (Node built-in)` })) : [],
      patterns: [
        ...(groups.length > 0 ? [{ group: groups, message }] : []),
        ...(allowOnly ? [{ regex: `^(?!(?:${allowOnly}))`, message }] : []),
        {
          group: [...rooms(['sandbox', 'test', 'bench', 'experiments']), TEST_SDK],
          message: `Product rooms never import the sandbox, tests, benchmarks, experiments or ${TEST_SDK}.`,
        },
      ],
    },
  ],
});

const clientRoom = (/** @type {string[]} */ allowedIo) => ({
  message:
    'client/ talks only to Temporal: it imports workflow messages, the codec and domain/, never activities or the worker.',
  groups: [...io.filter((p) => !allowedIo.includes(p)), '@temporalio/worker', ...rooms(['activities', 'worker'])],
});

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      '.scratch/**',
      'sandbox/go/**',
      '.artifacts/**',
      'gitops/**',
      '**/*.js',
      '**/*.cjs',
    ],
  },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test registers suites and tests synchronously; their returned promises are the runner's to await.
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: 'TSEnumDeclaration', message: 'Use an `as const` object and a union type.' },
      ],
    },
  },
  {
    // A cycle between modules makes their load order decide what a module sees at import time; the rooms
    // are layered, so none is needed. Type-only imports, erased at run time, do not count. Every relative
    // import names its `.ts` file, which the Node resolver finds as it is.
    files: filesOf(PRODUCT_ROOMS),
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js'] })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  {
    files: filesOf(['domain']),
    rules: {
      ...restrict({
        message: 'domain/ is the pure contracts room: no I/O, no SDKs, no other rooms.',
        builtins: true,
        groups: [
          '@temporalio/*',
          '@kubernetes/*',
          '@aws-sdk/*',
          ...rooms(['activities', 'workflows', 'worker', 'client', 'codec']),
        ],
      }),
      // The workflow worker evaluates domain/ again for every workflow it caches: a schema built at module level
      // costs heap in each of them, whether it parses with it or not (domain/once.ts).
      'no-restricted-syntax': [
        'error',
        { selector: 'TSEnumDeclaration', message: 'Use an `as const` object and a union type.' },
        ...['Program > VariableDeclaration', 'Program > ExportNamedDeclaration > VariableDeclaration'].map((at) => ({
          selector: `${at} > VariableDeclarator > CallExpression:not([callee.name='once']):has(MemberExpression[object.name='z'])`,
          message: 'Build schemas on first use: wrap a module-level schema in once(() => …) (domain/once.ts).',
        })),
      ],
    },
  },
  {
    files: filesOf(['workflows']),
    rules: restrict({
      message:
        'workflows/ is deterministic orchestration: no I/O, no Node built-ins; it reaches activities through the contract in domain/.',
      builtins: true,
      groups: [
        '@temporalio/worker',
        '@temporalio/client',
        '@temporalio/activity',
        '@kubernetes/*',
        '@aws-sdk/*',
        ...rooms(['activities', 'worker', 'client', 'codec']),
      ],
    }),
  },
  {
    files: filesOf(['activities']),
    ignores: ['activities/lock/**'],
    rules: restrict({
      message:
        'activities/ depend only on SDKs and domain/; Kubernetes only through activities/kubernetes/ (the client library is a development dependency).',
      groups: [
        '@kubernetes/*',
        '@temporalio/workflow',
        '@temporalio/client',
        '@temporalio/worker',
        ...rooms(['workflows', 'worker', 'client', 'codec']),
      ],
    }),
  },
  {
    // The lock's activities reach the lock workflow through the worker's Temporal client, and nothing else.
    files: ['activities/lock/**/*.ts'],
    rules: restrict({
      message: 'activities/lock/ uses the Temporal client (the worker\'s, from the activity context), the activity SDK and domain/ only.',
      groups: ['@temporalio/workflow', '@temporalio/worker', '@kubernetes/*', '@aws-sdk/*', ...rooms(['workflows', 'worker', 'client', 'codec'])],
    }),
  },
  {
    files: filesOf(['worker']),
    rules: restrict({
      message: 'worker/ composes workflows, activities and the codec; it never imports client/ or a Kubernetes client library.',
      groups: ['@kubernetes/*', ...rooms(['client'])],
    }),
  },
  {
    files: filesOf(['codec']),
    rules: restrict({
      message: 'codec/ imports only domain/ and the SDK payload pieces (@temporalio/common, @temporalio/proto).',
      // Anything that is not codec/ itself, domain/ or one of those two packages: built-ins included.
      allowOnly: '\\./|\\.\\./domain/|@temporalio/(?:common|proto)$',
    }),
  },
  {
    files: filesOf(['client']),
    rules: restrict(clientRoom(['node:http', 'node:fs', 'node:fs/*'])),
  },
  {
    // `logstack render` prints `kubectl kustomize` of a local overlay: rendering is local by nature and
    // this one function spawns kubectl. Every other client file stays without child processes.
    files: ['client/local/render.ts'],
    rules: restrict(clientRoom(['node:http', 'node:fs', 'node:fs/*', 'node:child_process'])),
  },
  {
    // `logstack state show|repair` reads and deliberately rewrites an environment's deployed-state record
    // with the person's own kubeconfig (kubectl) and checks its commits in the GitOps remote (git).
    files: ['client/local/state.ts'],
    rules: restrict(clientRoom(['node:http', 'node:fs', 'node:fs/*', 'node:child_process'])),
  },
  {
    // `logstack approve|reject --key` signs the approval statement with the person's own SSH key or agent
    // (ssh-keygen -Y sign): the private key never leaves ssh-keygen or the agent.
    files: ['client/local/ssh-sign.ts'],
    rules: restrict(clientRoom(['node:http', 'node:fs', 'node:fs/*', 'node:child_process'])),
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'sandbox/**/*.ts', 'experiments/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
    },
  },
);
