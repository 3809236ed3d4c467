/**
 * Name rules of the systems the catalog's fields name things in, checked when the catalog is read so a
 * hostile or mistyped value (`""`, `..`, a path, a control character) fails `InvalidInput` with the
 * field's path instead of reaching a Kubernetes object name, an S3 or Secrets Manager call, or a log line.
 */
import { z } from 'zod';
import { hasUnsafeCharacters } from './text.ts';
import { once } from './once.ts';

const DNS1123_LABEL = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;

/** A Kubernetes DNS-1123 label (namespaces and most object names): ≤ 63 lowercase letters, digits and `-`, alphanumeric at both ends. */
export function dns1123Label(what: string): z.ZodString {
  return z
    .string()
    .min(1, `${what} must not be empty`)
    .max(63, `${what} is at most 63 characters (a DNS-1123 label)`)
    .regex(DNS1123_LABEL, `${what} must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit`);
}

/**
 * A Kubernetes DNS-1123 subdomain (Secret names and other object names): ≤ `max` characters (253 by
 * default), DNS-1123 labels joined by single dots — so no `..`, no leading or trailing dot.
 */
export function dns1123Subdomain(what: string, max = 253): z.ZodString {
  return z
    .string()
    .min(1, `${what} must not be empty`)
    .max(max, `${what} is at most ${max} characters`)
    .refine((name) => name.split('.').every((label) => label.length <= 63 && DNS1123_LABEL.test(label)), {
      message: `${what} must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', each dot-separated part starting and ending with a letter or digit`,
    });
}

/** A kubeconfig context name: not empty, at most 253 characters, no control, separator or bidirectional character. */
export const kubeContextName = once(() =>
  z
    .string()
    .min(1, 'a kubeconfig context name must not be empty')
    .max(253)
    .refine((name) => !hasUnsafeCharacters(name) && name.trim() === name, {
      message: 'a kubeconfig context name must not contain control or bidirectional characters, nor start or end with a space',
    }),
);

/** Prefixes and suffixes S3 reserves (access points, Object Lambda, directory and table buckets, examples). */
const S3_RESERVED_PREFIXES = ['xn--', 'sthree-', 'amzn-s3-demo-'];
const S3_RESERVED_SUFFIXES = ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'];

/**
 * The problem with an S3 general-purpose bucket name, or undefined when it follows the rules: 3–63
 * characters of lowercase letters, digits, `.` and `-`; a letter or digit at both ends; no `..`; not an IPv4
 * address; none of the reserved prefixes (`xn--`, `sthree-`, `amzn-s3-demo-`) or suffixes (`-s3alias`,
 * `--ol-s3`, `.mrap`, `--x-s3`, `--table-s3`).
 */
export function bucketNameProblem(name: string): string | undefined {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name)) {
    return 'an S3 bucket name: 3–63 lowercase letters, digits, dots and dashes, starting and ending with a letter or digit';
  }
  if (name.includes('..')) return 'an S3 bucket name must not contain two adjacent dots';
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return 'an S3 bucket name must not be an IP address';
  const prefix = S3_RESERVED_PREFIXES.find((p) => name.startsWith(p));
  if (prefix) return `an S3 bucket name must not start with "${prefix}" (reserved)`;
  const suffix = S3_RESERVED_SUFFIXES.find((s) => name.endsWith(s));
  if (suffix) return `an S3 bucket name must not end with "${suffix}" (reserved)`;
  return undefined;
}

/** An S3 general-purpose bucket name ({@link bucketNameProblem}). */
export const s3BucketName = once(() =>
  z.string().superRefine((name, ctx) => {
    const problem = bucketNameProblem(name);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
);

/**
 * A Secrets Manager secret name: 1–512 of `A-Z a-z 0-9 / _ + = . @ -`, and — since logstack builds IAM
 * resource patterns from it — `/`-separated parts that are neither empty nor `.` or `..`.
 */
export const secretsManagerName = once(() =>
  z
    .string()
    .min(1, 'a Secrets Manager secret name must not be empty')
    .max(512)
    .regex(/^[A-Za-z0-9/_+=.@-]+$/, 'a Secrets Manager secret name: letters, digits and / _ + = . @ -')
    .refine((name) => name.split('/').every((part) => part !== '' && part !== '.' && part !== '..'), {
      message: 'a Secrets Manager secret name must not have an empty, "." or ".." part between slashes',
    }),
);

/** An IAM user or role name: 1–64 of letters, digits and `+ = , . @ _ -`. */
export const iamPrincipalName = once(() =>
  z
    .string()
    .min(1, 'an IAM name must not be empty')
    .max(64)
    .regex(/^[\w+=,.@-]+$/, 'an IAM user or role name: letters, digits and + = , . @ _ -'),
);

/**
 * An ARN: `arn:<partition>:<service>:<region>:<account>:<resource>`, partition `aws`, `aws-cn`, `aws-us-gov`
 * (or another `aws-…`), service lowercase, region empty or lowercase, account empty or 12 digits, a
 * resource of printable ASCII without spaces. Optionally limited to one `service`.
 */
export function awsArn(service?: string): z.ZodString {
  return z
    .string()
    .max(2048)
    .regex(
      /^arn:aws(?:-[a-z]+)*:([a-z0-9-]+):([a-z0-9-]*):(\d{12}|aws|):([!-~]+)$/,
      'an ARN: arn:<partition>:<service>:<region>:<account>:<resource>',
    )
    .refine((arn) => service === undefined || arn.split(':')[2] === service, { message: `an ARN of ${service ?? 'a'} service` });
}
