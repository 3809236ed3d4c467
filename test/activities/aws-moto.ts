/**
 * Shared setup for the AWS activity tests, which run against a real moto server: the sandbox's
 * (`aws.endpoint` of its status file) or, when the sandbox is not up, `LOGSTACK_AWS_ENDPOINT`.
 */
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { parseCatalog, findEnvironment, type Environment } from '../../domain/index.ts';
import { readSandbox } from '../../sandbox/status.ts';
import { createAwsClients, type AwsClients } from '../../activities/aws/index.ts';

/** Moto's default account (the one the fake credentials act as). */
export const MOTO_ACCOUNT = '123456789012';
/** Another moto account, selected per request with moto's `x-moto-account-id` header. */
export const OTHER_ACCOUNT = '111111111111';

/** Fake credentials for moto; set before any client resolves its credential chain. */
export function useFakeCredentials(): void {
  process.env['AWS_ACCESS_KEY_ID'] = 'test';
  process.env['AWS_SECRET_ACCESS_KEY'] = 'test';
  process.env['AWS_REGION'] = 'us-east-1';
  delete process.env['AWS_SESSION_TOKEN'];
  delete process.env['AWS_PROFILE'];
}

/** The moto endpoint: the sandbox's, else `LOGSTACK_AWS_ENDPOINT`; throws saying how to get one. */
export function motoEndpoint(): string {
  const endpoint = readSandbox()?.aws.endpoint ?? process.env['LOGSTACK_AWS_ENDPOINT'];
  if (!endpoint) {
    throw new Error('no moto endpoint: start the sandbox (`npm run sandbox -- up`) or set LOGSTACK_AWS_ENDPOINT to a moto server');
  }
  return endpoint.replace(/\/$/, '');
}

/** Empties every moto backend (all accounts, all services). */
export async function resetMoto(endpoint: string): Promise<void> {
  const response = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
  if (!response.ok) throw new Error(`moto reset failed: HTTP ${response.status}`);
}

/**
 * Turns moto's IAM authorization on (every following request is checked against IAM policies) or
 * off again. moto keeps this setting across `/moto-api/reset`, so tests always switch it back off.
 */
export async function setMotoAuthorization(endpoint: string, enforced: boolean): Promise<void> {
  const response = await fetch(`${endpoint}/moto-api/reset-auth`, { method: 'POST', body: enforced ? '0' : 'inf' });
  if (!response.ok) throw new Error(`moto reset-auth failed: HTTP ${response.status}`);
}

/** AWS clients pointed at moto with the fake credentials. */
export function motoClients(endpoint: string): AwsClients {
  useFakeCredentials();
  return createAwsClients({ endpoint, maxAttempts: 1 });
}

/** An S3 client that acts as another moto account. */
export function otherAccountS3(endpoint: string, region: string): S3Client {
  const client = new S3Client({ endpoint, region, forcePathStyle: true, maxAttempts: 1 });
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers['x-moto-account-id'] = OTHER_ACCOUNT;
      return next(args);
    },
    { step: 'build', name: 'motoOtherAccount' },
  );
  return client;
}

/** A validated environment entry, built through the real catalog schema. */
export function testEnvironment(
  overrides: {
    name?: string;
    region?: string;
    bucket?: string;
    credentialMode?: 'static' | 'sts';
    retentionDays?: number;
    oidcIssuer?: string;
    secretName?: string;
    principalName?: string;
    adopt?: ('bucket' | 'secret' | 'principal')[];
    permissionsBoundary?: string;
  } = {},
): Environment {
  const name = overrides.name ?? 'dev';
  const catalog = parseCatalog({
    apiVersion: 'logstack.io/v1',
    kind: 'EnvironmentCatalog',
    promotionOrder: [name],
    gitops: { remote: '/tmp/gitops.git' },
    environments: [
      {
        name,
        cluster: { context: name, ...(overrides.oidcIssuer === undefined ? {} : { oidcIssuer: overrides.oidcIssuer }) },
        aws: {
          region: overrides.region ?? 'eu-west-1',
          bucket: overrides.bucket ?? `logstack-${name}-loki`,
          secretName: overrides.secretName ?? `logstack/${name}/loki-s3`,
          credentialMode: overrides.credentialMode ?? 'static',
          ...(overrides.principalName === undefined ? {} : { principalName: overrides.principalName }),
          ...(overrides.adopt === undefined ? {} : { adopt: overrides.adopt }),
          ...(overrides.permissionsBoundary === undefined ? {} : { permissionsBoundary: overrides.permissionsBoundary }),
        },
        overlay: `gitops/overlays/${name}`,
        delivery: 'direct',
        loki: { size: '1x.demo' },
        retentionDays: overrides.retentionDays ?? 7,
      },
    ],
  });
  return findEnvironment(catalog, name);
}

/** Names of the buckets the default account owns. */
export async function bucketNames(s3: S3Client): Promise<string[]> {
  const listed = await s3.send(new ListBucketsCommand({}));
  return (listed.Buckets ?? []).map((b) => b.Name ?? '');
}

/** The failure shape the tests assert on (an `ApplicationFailure`, read by its fields). */
export interface FailureLike {
  name: string;
  type?: string | null;
  nonRetryable?: boolean | null;
  message: string;
}

/** Awaits `promise`, expecting it to reject; returns the rejection. */
export async function rejection(promise: Promise<unknown>): Promise<FailureLike> {
  try {
    await promise;
  } catch (error) {
    return error as FailureLike;
  }
  throw new Error('expected a failure, got a result');
}
