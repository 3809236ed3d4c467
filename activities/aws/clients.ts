/**
 * AWS SDK clients for the activities: one per service and region, built lazily and reused. The
 * endpoint is overridable (the sandbox's moto); otherwise the SDK's default endpoint and credential
 * chain apply.
 */
import { IAMClient } from '@aws-sdk/client-iam';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';

/** Static credentials or a credential provider, as every SDK client accepts them. */
export type AwsCredentials = NonNullable<S3ClientConfig['credentials']>;

/** How to reach AWS. Every field is optional: without any, real AWS and the default chain are used. */
export interface AwsClientOptions {
  /** One endpoint for every service (e.g. `http://127.0.0.1:5055` for moto). Default: `AWS_ENDPOINT_URL`, else AWS. */
  readonly endpoint?: string;
  /** Credentials or a provider; default: the SDK's default credential chain. */
  readonly credentials?: AwsCredentials;
  /** Region used for IAM (a global service) and STS; default `us-east-1`. */
  readonly globalRegion?: string;
  /** SDK-level attempts per call before the error reaches the activity's retry policy; default 3. */
  readonly maxAttempts?: number;
}

/** The clients the AWS activities use. Regional clients are cached per region. */
export interface AwsClients {
  /** The endpoint override in use, or undefined for real AWS. */
  readonly endpoint: string | undefined;
  /** S3 client for `region` (path-style addressing when an endpoint override is set). */
  s3(region: string): S3Client;
  /** Secrets Manager client for `region`. */
  secretsManager(region: string): SecretsManagerClient;
  /** The IAM client (global). */
  iam(): IAMClient;
  /** The STS client. */
  sts(): STSClient;
  /** Closes every client built so far (sockets); the object must not be used afterwards. */
  destroy(): void;
}

/** The endpoint override: the explicit option, else `AWS_ENDPOINT_URL`, else none (real AWS). */
export function resolveEndpoint(explicit?: string): string | undefined {
  const value = explicit ?? process.env['AWS_ENDPOINT_URL'];
  return value === undefined || value === '' ? undefined : value;
}

interface BaseConfig {
  endpoint?: string;
  credentials?: AwsCredentials;
  maxAttempts: number;
}

function baseConfig(options: AwsClientOptions, endpoint: string | undefined): BaseConfig {
  const config: BaseConfig = { maxAttempts: options.maxAttempts ?? 3 };
  if (endpoint !== undefined) config.endpoint = endpoint;
  if (options.credentials !== undefined) config.credentials = options.credentials;
  return config;
}

function memoByRegion<T>(build: (region: string) => T, built: { destroy(): void }[]): (region: string) => T {
  const cache = new Map<string, T>();
  return (region) => {
    let client = cache.get(region);
    if (client === undefined) {
      client = build(region);
      cache.set(region, client);
      built.push(client as { destroy(): void });
    }
    return client;
  };
}

/**
 * Builds the AWS clients. Guarantees: nothing is contacted until a client is used; one client per
 * service and region; with an endpoint override S3 uses path-style addressing (moto and other
 * S3-compatible endpoints do not serve virtual-hosted buckets on loopback).
 */
export function createAwsClients(options: AwsClientOptions = {}): AwsClients {
  const endpoint = resolveEndpoint(options.endpoint);
  const base = baseConfig(options, endpoint);
  const globalRegion = options.globalRegion ?? 'us-east-1';
  const built: { destroy(): void }[] = [];
  const s3 = memoByRegion((region) => new S3Client({ ...base, region, forcePathStyle: endpoint !== undefined }), built);
  const secretsManager = memoByRegion((region) => new SecretsManagerClient({ ...base, region }), built);
  const iam = memoByRegion((region) => new IAMClient({ ...base, region }), built);
  const sts = memoByRegion((region) => new STSClient({ ...base, region }), built);
  return {
    endpoint,
    s3,
    secretsManager,
    iam: () => iam(globalRegion),
    sts: () => sts(globalRegion),
    destroy: () => {
      for (const client of built.splice(0)) client.destroy();
    },
  };
}
