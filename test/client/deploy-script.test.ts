/**
 * `scripts/deploy-logging-stack.sh`, the ADR's entry point, without Temporal: which logstack command it chooses
 * from the catalog as the real CLI reads it (`--print`), its usage errors (exit 2), a broken catalog (the CLI's
 * exit 1), and that it ends with the CLI's own exit code and arguments (a stand-in CLI that records them).
 * The run against the sandbox is in test/e2e/adr-entry-points.test.ts.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = join(REPO, 'scripts/deploy-logging-stack.sh');
const dir = mkdtempSync(join(tmpdir(), 'logstack-deploy-script-'));

function deploy(args: readonly string[], env: Record<string, string> = {}): { code: number; out: string; err: string } {
  const base: NodeJS.ProcessEnv = { ...process.env, LOGSTACK_CATALOG: join(REPO, 'sandbox/environments.yaml') };
  delete base['LOGSTACK_CLI'];
  const res = spawnSync(SCRIPT, [...args], { env: { ...base, ...env }, encoding: 'utf8', cwd: dir });
  return { code: res.status ?? -1, out: res.stdout, err: res.stderr };
}

describe('scripts/deploy-logging-stack.sh', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('promotes into an environment the promotion order promotes into, and rolls out the first stage (catalog read by the CLI)', () => {
    const cases: [string[], string][] = [
      [['--environment', 'production', '--print'], 'logstack promote --from staging --to production'],
      [['-e', 'staging', '-r', 'v2.0.0', '--wait', '--print'], 'logstack promote --from dev --to staging --revision v2.0.0 --wait'],
      [['--environment=dev', '--revision=main', '--wait', '--print', '--', '--task-queue', 'q1'], 'logstack rollout dev --revision main --wait --task-queue q1'],
    ];
    for (const [args, expected] of cases) {
      const res = deploy(args);
      assert.equal(res.code, 0, res.err);
      assert.equal(res.out.trim(), expected);
    }
    // Another catalog, another order: staging first, so staging is a rollout there.
    const catalog = readFileSync(join(REPO, 'sandbox/environments.yaml'), 'utf8').replace('promotionOrder: [dev, staging, production]', 'promotionOrder: [staging, production]');
    // Overlays are read relative to the parent of the catalog's folder: give that folder the repository's gitops/.
    mkdirSync(join(dir, 'catalogs'));
    symlinkSync(join(REPO, 'gitops'), join(dir, 'gitops'));
    const reordered = join(dir, 'catalogs', 'reordered.yaml');
    writeFileSync(reordered, catalog);
    const res = deploy(['--environment', 'staging', '--revision', 'abc', '--print'], { LOGSTACK_CATALOG: reordered });
    assert.equal(res.code, 0, res.err);
    assert.equal(res.out.trim(), 'logstack rollout staging --revision abc');
  });

  it('refuses bad usage with exit 2 and says why', () => {
    const cases: [string[], RegExp][] = [
      [[], /--environment <env> is required/],
      [['--environment'], /--environment needs a value/],
      [['--environment', 'dev', '--bogus'], /unknown argument: --bogus/],
      [['--environment', 'Prod!'], /"Prod!" is not an environment name/],
      [['--environment', 'qa'], /unknown environment "qa"; the catalog has: dev staging production/],
      [['--environment', 'dev'], /dev is not promoted into \(promotion order: dev staging production\): a rollout, which needs --revision/],
      [['--environment', 'staging', '--revision', '--wait'], /--revision "--wait" may not start with -/],
    ];
    for (const [args, message] of cases) {
      const res = deploy(args);
      assert.equal(res.code, 2, `${args.join(' ')}: ${res.out}${res.err}`);
      assert.match(res.err, message);
    }
    const help = deploy(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.out, /^Usage: scripts\/deploy-logging-stack\.sh --environment <env>/);
  });

  it('stops with the CLI\'s exit 1 and its problems when the catalog is broken', () => {
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'apiVersion: logstack.io/v1\nkind: EnvironmentCatalog\npromotionOrder: [dev]\nenvironments: []\n');
    const res = deploy(['--environment', 'dev', '--revision', 'main'], { LOGSTACK_CATALOG: broken });
    assert.equal(res.code, 1, res.err);
    assert.match(res.err, /the catalog is not usable \(logstack validate exit 1\)/);
    assert.match(res.err, /"path": "environments"/);
  });

  it('runs the chosen command with the CLI and ends with its exit code (0, 1, 3 passed through)', () => {
    const record = join(dir, 'calls.txt');
    const stand = join(dir, 'fake-logstack.sh');
    writeFileSync(
      stand,
      `#!/usr/bin/env bash
if [ "$1 $2 $3" = "-o json validate" ]; then
  printf '[{"file":"x","valid":true,"environments":["dev","staging","production"],"promotionOrder":["dev","staging","production"]}]\\n'
  exit 0
fi
printf '%s\\n' "$*" >> ${JSON.stringify(record)}
exit "\${FAKE_EXIT:-0}"
`,
    );
    chmodSync(stand, 0o755);
    for (const code of [0, 1, 3]) {
      const res = deploy(['--environment', 'production', '--wait'], { LOGSTACK_CLI: stand, FAKE_EXIT: String(code) });
      assert.equal(res.code, code, res.err);
      assert.match(res.err, /a promotion staging → production: logstack promote --from staging --to production --wait/);
    }
    assert.deepEqual(readFileSync(record, 'utf8').trim().split('\n'), Array(3).fill('promote --from staging --to production --wait'));
  });
});
