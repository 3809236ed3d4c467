import type { Command } from 'commander';
import { resolve } from 'node:path';
import { ExitCode } from '../errors.ts';
import { catalogPath, checkCatalogFile } from '../local/catalog.ts';
import type { Runner } from './runner.ts';

/**
 * `logstack validate [files…]`: checks environment catalog files against the catalog schema and that
 * every overlay exists; prints each problem with its path. Exit 1 when any file is invalid. Local only. With
 * `-o json`, a valid file also lists its environments and its promotion order (what scripts read, e.g.
 * `scripts/deploy-logging-stack.sh` to choose between a rollout and a promotion).
 */
export function registerValidate(program: Command, runner: Runner): void {
  program
    .command('validate')
    .description('check environment catalog file(s): schema, promotion order, approvers, overlays')
    .argument('[files...]', 'catalog files (default: $LOGSTACK_CATALOG or gitops/environments.yaml)')
    .addHelpText('after', '\nExample:\n  logstack validate\n  logstack validate gitops/environments.yaml sandbox/environments.yaml')
    .action((files: string[], _opts: unknown, command: Command) =>
      runner.run(command, (ctx) => {
        const targets = files.length > 0 ? files.map((f) => resolve(f)) : [catalogPath(undefined, ctx.io.env)];
        const results = targets.map((file) => ({ file, check: checkCatalogFile(file) }));
        if (ctx.json) {
          ctx.printJson(
            results.map(({ file, check }) =>
              check.ok
                ? { file, valid: true, environments: check.catalog.environments.map((e) => e.name), promotionOrder: check.catalog.promotionOrder }
                : { file, valid: false, problems: check.problems },
            ),
          );
        } else {
          for (const { file, check } of results) {
            if (check.ok) {
              ctx.line(`✓ ${file}: ${check.catalog.environments.length} environments (${check.catalog.promotionOrder.join(' → ')})`);
            } else {
              ctx.line(`✗ ${file}: ${check.problems.length} problem(s)`);
              for (const p of check.problems) ctx.line(`  - ${p.path}: ${p.message}`);
            }
          }
        }
        return Promise.resolve(results.every((r) => r.check.ok) ? ExitCode.ok : ExitCode.failed);
      }),
    );
}
