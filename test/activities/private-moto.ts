/**
 * A moto server of one test process only (the sandbox's pinned build, from its cache) on a free loopback
 * port: tests that reset moto, switch its IAM enforcement or enforce IAM from the start use it, never the
 * shared sandbox moto, whose state other test processes and the sandbox's own clusters rely on.
 * Started with `INITIAL_NO_AUTH_ACTION_COUNT=<n>`, the first `n` requests are not authenticated and every
 * later one is checked against IAM (signature of a known access key, then its policies); without it, moto
 * authenticates nothing until `/moto-api/reset-auth` says otherwise. Readiness is waited for with a bare TCP
 * connect, which is not a request and so does not use up the unauthenticated ones.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { loadVersions, motoServerPath } from '../../sandbox/paths.ts';

/** A running private moto; `stop()` ends the process this helper started (by its pid). */
export interface PrivateMoto {
  readonly endpoint: string;
  readonly pid: number;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The sandbox's moto launcher (its virtualenv in the build cache, where sandbox/build.ts installs it). */
export function motoServerBinary(): string {
  const bin = motoServerPath(loadVersions());
  if (!existsSync(bin)) throw new Error(`no moto launcher at ${bin}: build the sandbox first (npm run sandbox -- build)`);
  return bin;
}

/**
 * Starts a private moto and waits until it accepts connections. With `noAuthActions`, IAM is enforced after
 * that many requests (`INITIAL_NO_AUTH_ACTION_COUNT`); without it, not at all.
 */
export async function startPrivateMoto(noAuthActions?: number): Promise<PrivateMoto> {
  const port = await freePort();
  const env = { ...process.env };
  delete env['INITIAL_NO_AUTH_ACTION_COUNT'];
  if (noAuthActions !== undefined) env['INITIAL_NO_AUTH_ACTION_COUNT'] = String(noAuthActions);
  const child: ChildProcess = spawn(motoServerBinary(), ['-H', '127.0.0.1', '-p', String(port)], {
    env,
    stdio: 'ignore',
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('the moto launcher did not start');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null) throw new Error(`the moto launcher exited with ${child.exitCode}`);
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGTERM');
      throw new Error('the moto launcher did not listen within 30 s');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    pid,
    async stop() {
      if (child.exitCode === null) process.kill(pid, 'SIGTERM');
      await exited;
    },
  };
}

/**
 * Uses the three unauthenticated requests of a moto started with `startPrivateMoto(3)` to create an
 * administrator (user `worker`, `*` on `*`) standing in for the worker, and returns its access key: every
 * later request must be signed with a known key and is checked against IAM.
 */
export async function createAdministrator(
  moto: PrivateMoto,
  region: string,
): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  const setup = new IAMClient({
    endpoint: moto.endpoint,
    region,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  try {
    await setup.send(new CreateUserCommand({ UserName: 'worker' }));
    const PolicyDocument = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
    });
    await setup.send(new PutUserPolicyCommand({ UserName: 'worker', PolicyName: 'all', PolicyDocument }));
    const made = await setup.send(new CreateAccessKeyCommand({ UserName: 'worker' }));
    return { accessKeyId: made.AccessKey?.AccessKeyId ?? '', secretAccessKey: made.AccessKey?.SecretAccessKey ?? '' };
  } finally {
    setup.destroy();
  }
}
