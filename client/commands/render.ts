import type { Command } from 'commander';
import { resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ExitCode } from '../errors.ts';
import { catalogPath, loadEnvironment } from '../local/catalog.ts';
import { confineOverlay, kubectlPath, renderOverlay } from '../local/render.ts';
import { environmentName } from './arguments.ts';
import type { Runner } from './runner.ts';

/**
 * `logstack render <env>`: prints `kubectl kustomize` of the environment's overlay from the local
 * checkout (YAML; `--output json` prints the objects as a JSON array). Local only. The overlay is held to
 * the worker's confinement rules first (`confineOverlay`): a hostile tree exits 1 before kubectl runs.
 */
export function registerRender(program: Command, runner: Runner): void {
  program
    .command('render')
    .description("print the rendered manifests of an environment's overlay (kubectl kustomize)")
    .argument('<env>', 'environment name from the catalog', environmentName)
    .option('--catalog <file>', 'catalog file (default: $LOGSTACK_CATALOG or gitops/environments.yaml)')
    .option('--kubectl <path>', 'kubectl binary (default: $LOGSTACK_KUBECTL, or kubectl on PATH)')
    .addHelpText('after', '\nExample:\n  logstack render staging | kubectl diff --server-side -f -')
    .action((env: string, opts: { catalog?: string; kubectl?: string }, command: Command) =>
      runner.run(command, async (ctx) => {
        const file = catalogPath(opts.catalog, ctx.io.env);
        const { environment, root } = loadEnvironment(file, env);
        await confineOverlay(root, environment.overlay);
        const text = await renderOverlay(kubectlPath(opts.kubectl, ctx.io.env), resolve(root, environment.overlay), ctx.io.env);
        if (ctx.json) ctx.printJson(parseAllDocuments(text).flatMap((d) => ('toJS' in d ? [d.toJS() as unknown] : [])).filter((o) => o !== null));
        else ctx.io.out(text);
        return ExitCode.ok;
      }),
    );
}
