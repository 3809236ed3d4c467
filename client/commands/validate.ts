import type { Command } from 'commander';
import { resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Catalog } from '../../domain/index.ts';
import { checkOperatorRules, formatViolation, type OperatorRuleViolation } from '../../domain/operator-rules/index.ts';
import { CliError, ExitCode } from '../errors.ts';
import { catalogPath, checkCatalogFile, repositoryRoot } from '../local/catalog.ts';
import { confineOverlay, kubectlPath, renderOverlay } from '../local/render.ts';
import type { Runner } from './runner.ts';

/** The operator-rule verdict on one environment's rendered overlay. */
interface RuleCheck {
  readonly environment: string;
  readonly overlay: string;
  readonly violations: readonly OperatorRuleViolation[];
  /** Set when the overlay could not be rendered (confinement refusal, kustomize error, no kubectl). */
  readonly error?: string;
}

/** Renders every environment's overlay from the checkout and holds it to the operators' rules. */
async function checkRules(catalog: Catalog, file: string, kubectl: string, env: Readonly<Record<string, string | undefined>>): Promise<RuleCheck[]> {
  const root = repositoryRoot(file);
  const checks: RuleCheck[] = [];
  for (const environment of catalog.environments) {
    const base = { environment: environment.name, overlay: environment.overlay };
    try {
      await confineOverlay(root, environment.overlay);
      const text = await renderOverlay(kubectl, resolve(root, environment.overlay), env);
      const objects = parseAllDocuments(text).map((d) => d.toJS() as unknown);
      checks.push({ ...base, violations: checkOperatorRules(objects, environment) });
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      checks.push({ ...base, violations: [], error: error.message });
    }
  }
  return checks;
}

const ruleCheckOk = (c: RuleCheck) => c.error === undefined && c.violations.length === 0;

/**
 * `logstack validate [files…]`: checks environment catalog files against the catalog schema and that
 * every overlay exists; prints each problem with its path. With `--operator-rules` it also renders each
 * environment's overlay from the checkout (`kubectl kustomize`, held to the worker's confinement rules first)
 * and checks it against the Loki Operator's and the Cluster Logging Operator's rules with the catalog's facts
 * (`domain/operator-rules/`), printing every violation with its path and the operator's reason — the check
 * the worker makes before any mutation. Exit 1 when anything is invalid. Local only. With `-o json`, a valid
 * file also lists its environments and its promotion order (what scripts read, e.g.
 * `scripts/deploy-logging-stack.sh` to choose between a rollout and a promotion).
 */
export function registerValidate(program: Command, runner: Runner): void {
  program
    .command('validate')
    .description('check environment catalog file(s): schema, promotion order, approvers, overlays; --operator-rules: the rendered overlays against the operators\' rules')
    .argument('[files...]', 'catalog files (default: $LOGSTACK_CATALOG or gitops/environments.yaml)')
    .option('--operator-rules', "render each environment's overlay and check it against the Loki and Cluster Logging operators' rules")
    .option('--kubectl <path>', 'kubectl binary for --operator-rules (default: $LOGSTACK_KUBECTL, or kubectl on PATH)')
    .addHelpText('after', '\nExample:\n  logstack validate\n  logstack validate gitops/environments.yaml sandbox/environments.yaml\n  logstack validate --operator-rules')
    .action((files: string[], opts: { operatorRules?: boolean; kubectl?: string }, command: Command) =>
      runner.run(command, async (ctx) => {
        const targets = files.length > 0 ? files.map((f) => resolve(f)) : [catalogPath(undefined, ctx.io.env)];
        const results: { file: string; check: ReturnType<typeof checkCatalogFile>; rules?: RuleCheck[] }[] = [];
        for (const file of targets) {
          const check = checkCatalogFile(file);
          const rules = opts.operatorRules && check.ok ? await checkRules(check.catalog, file, kubectlPath(opts.kubectl, ctx.io.env), ctx.io.env) : undefined;
          results.push(rules ? { file, check, rules } : { file, check });
        }
        if (ctx.json) {
          ctx.printJson(
            results.map(({ file, check, rules }) =>
              check.ok
                ? {
                    file,
                    valid: rules ? rules.every(ruleCheckOk) : true,
                    environments: check.catalog.environments.map((e) => e.name),
                    promotionOrder: check.catalog.promotionOrder,
                    ...(rules ? { operatorRules: rules } : {}),
                  }
                : { file, valid: false, problems: check.problems },
            ),
          );
        } else {
          for (const { file, check, rules } of results) {
            if (check.ok) {
              ctx.line(`✓ ${file}: ${check.catalog.environments.length} environments (${check.catalog.promotionOrder.join(' → ')})`);
            } else {
              ctx.line(`✗ ${file}: ${check.problems.length} problem(s)`);
              for (const p of check.problems) ctx.line(`  - ${p.path}: ${p.message}`);
            }
            for (const rule of rules ?? []) {
              if (rule.error !== undefined) {
                ctx.line(`  ✗ ${rule.environment}: ${rule.overlay} could not be rendered: ${rule.error}`);
              } else if (rule.violations.length === 0) {
                ctx.line(`  ✓ ${rule.environment}: ${rule.overlay} meets the operators' rules`);
              } else {
                ctx.line(`  ✗ ${rule.environment}: ${rule.overlay} breaks ${rule.violations.length} operator rule(s)`);
                for (const v of rule.violations) ctx.line(`    - ${formatViolation(v)}`);
              }
            }
          }
        }
        const ok = results.every((r) => r.check.ok && (r.rules ?? []).every(ruleCheckOk));
        return ok ? ExitCode.ok : ExitCode.failed;
      }),
    );
}
