import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { CODEC_KEYS_ENV, codecFromEnv } from '../../codec/codec.ts';
import { CodecServerConfigError, startCodecServer } from '../codec-server.ts';
import { CliError, ExitCode } from '../errors.ts';
import type { Runner } from './runner.ts';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port number 0–65535');
  return n;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').map((v) => v.trim()).filter(Boolean)];
}

/** Environment variable holding the codec server's bearer token. */
export const CODEC_TOKEN_ENV = 'LOGSTACK_CODEC_TOKEN';

/**
 * `logstack codec-server --port 8081 [--origin URL…] [--token T | --no-auth]`: serves `/encode` and
 * `/decode` for the Temporal Web UI (Settings → Codec Server, or `TEMPORAL_CODEC_ENDPOINT`) and the
 * Temporal CLI (`--codec-endpoint`, `--codec-auth "Bearer T"`), with the keys of `LOGSTACK_CODEC_KEYS`.
 * A bearer token (`LOGSTACK_CODEC_TOKEN`, or `--token`) is required; `--no-auth` is accepted only on a
 * loopback address. Runs until SIGINT/SIGTERM.
 */
export function registerCodecServer(program: Command, runner: Runner): void {
  program
    .command('codec-server')
    .description(`serve /encode and /decode for the Temporal Web UI and CLI, with the keys in ${CODEC_KEYS_ENV}`)
    .option('--port <port>', 'port to listen on', port, 8081)
    .option('--host <host>', 'address to bind (0.0.0.0 in a container)', '127.0.0.1')
    .option('--origin <url>', 'Web UI origin allowed by CORS (repeatable or comma-separated)', collect)
    .option('--token <token>', `bearer token every request must show (default: $${CODEC_TOKEN_ENV}, which keeps it out of the process list)`)
    .option('--no-auth', 'serve without a token: only on a loopback --host (127.0.0.1, ::1, localhost)')
    .addHelpText(
      'after',
      `\nKeys: ${CODEC_KEYS_ENV}=id1:base64key[,id2:base64key] (first encrypts, all decrypt).\nToken: ${CODEC_TOKEN_ENV} (≥ 16 characters); requests without it get 401.\n\nExample:\n  export ${CODEC_TOKEN_ENV}=$(openssl rand -hex 32)\n  ${CODEC_KEYS_ENV}=k1:$(openssl rand -base64 32) logstack codec-server --port 8081 --origin http://127.0.0.1:8233\n  temporal workflow show -w promote-production --codec-endpoint http://127.0.0.1:8081 --codec-auth "Bearer $${CODEC_TOKEN_ENV}"`,
    )
    .action((opts: { port: number; host: string; origin?: string[]; token?: string; auth: boolean }, command: Command) =>
      runner.run(command, async (ctx) => {
        const codec = await codecFromEnv(ctx.io.env, ctx.settings.namespace);
        if (!codec) throw new CliError(`set ${CODEC_KEYS_ENV}=id:base64key (e.g. k1:$(openssl rand -base64 32)) — the same keys the worker uses`, ExitCode.usage);
        const ui = ctx.settings.uiBase;
        // The UI is reached as 127.0.0.1 or localhost alike; a browser sends whichever the user typed.
        const origins = opts.origin ?? [...new Set([ui, ui.replace('//127.0.0.1', '//localhost'), ui.replace('//localhost', '//127.0.0.1')])];
        const noAuth = !opts.auth;
        const token = noAuth ? opts.token : (opts.token ?? ctx.io.env[CODEC_TOKEN_ENV]);
        let server;
        try {
          server = await startCodecServer({ codec, origins, token, noAuth, port: opts.port, host: opts.host });
        } catch (error) {
          if (error instanceof CodecServerConfigError) throw new CliError(error.message, ExitCode.usage);
          throw error;
        }
        const info = { url: server.url, origins, tokenRequired: !noAuth, activeKey: codec.activeKeyId, keys: codec.keyIds };
        if (ctx.json) ctx.printJsonLine(info);
        else {
          ctx.line(`codec server on ${server.url} (active key ${codec.activeKeyId}; decrypts ${codec.keyIds.join(', ')})`);
          ctx.line(`  CORS origins: ${origins.join(', ')}; ${noAuth ? 'no token (--no-auth, loopback only)' : 'bearer token required'}`);
          ctx.line(`  Web UI: Settings → Codec Server → ${server.url}   Temporal CLI: --codec-endpoint ${server.url}${noAuth ? '' : ` --codec-auth "Bearer $${CODEC_TOKEN_ENV}"`}`);
        }
        await new Promise<void>((resolve) => {
          const stop = (): void => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            resolve();
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
        await server.close();
        if (ctx.json) ctx.printJsonLine({ stopped: true });
        else ctx.line('codec server stopped');
        return ExitCode.ok;
      }),
    );
}
