/**
 * `logstack evidence <workflow-id>` prints (or writes with `--file`) the signed evidence record of a run, as
 * the run's `evidence` query answers it — the exact bytes stored in S3 and Git; the client reaches only
 * Temporal. `logstack evidence verify <file> --key <public key>` checks a record offline: the canonical
 * envelope text, the DSSE signature by that key, the statement's shape, and with `--repo` that the subject
 * commit exists in a local clone, and (`--catalog`) that every signed approval verifies by the key the catalog
 * lists for its approver; without a catalog they are reported unchecked.
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { WorkflowNotFoundError } from '@temporalio/client';
import { parse } from 'yaml';
import { catalogApprovalVerifier, parseCatalog, verifyEvidence, type ApprovalSignatureVerifier, type EvidenceVerdict } from '../../domain/index.ts';
import { evidenceQuery, type EvidenceAnswer } from '../../workflows/evidence-query.ts';
import type { CommandContext } from '../context.ts';
import { CliError, ExitCode } from '../errors.ts';
import { commitInRepository } from '../local/git-objects.ts';
import type { Runner } from './runner.ts';

/** DER prefix of an ed25519 SubjectPublicKeyInfo, before the 32-byte key (RFC 8410). */
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/**
 * The evidence public key from `--key`: a file or the text itself — a PEM public key (or a private key, whose
 * public half is used), or the raw 32-byte public key in base64 or hex.
 * @throws CliError (usage) when it is none of those or not ed25519.
 */
export function evidencePublicKey(spec: string): KeyObject {
  const text = (existsSync(spec) ? readFileSync(spec, 'utf8') : spec).trim();
  let key: KeyObject;
  try {
    const raw = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : /^[A-Za-z0-9+/]{43}=?$/.test(text) ? Buffer.from(text, 'base64') : undefined;
    key = raw ? createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' }) : createPublicKey(text);
  } catch {
    throw new CliError('--key is not an ed25519 public key (PEM, or the raw 32 bytes in base64 or hex), nor a file holding one', ExitCode.usage);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new CliError(`--key is a ${key.asymmetricKeyType ?? 'unknown'} key; evidence is signed with ed25519`, ExitCode.usage);
  return key;
}

/** The key id the worker puts in its signatures: SHA-256 (hex) of the public key's DER SubjectPublicKeyInfo. */
export function evidenceKeyIdOf(key: KeyObject): string {
  return createHash('sha256').update(key.export({ format: 'der', type: 'spki' })).digest('hex');
}

/** Options of {@link verifyEvidenceFile}. */
export interface VerifyOptions {
  readonly key: KeyObject;
  /** A local clone in which the subject commit must exist. */
  readonly repo?: string;
  /** The approvals' signature check (SSHSIG over the canonical approval statement), when wired. */
  readonly approvals?: ApprovalSignatureVerifier;
}

/** Verifies the text of a record offline (see the module comment). */
export function verifyEvidenceFile(text: string, options: VerifyOptions): Promise<EvidenceVerdict> {
  const { repo, approvals } = options;
  return verifyEvidence(text, {
    key: { keyid: evidenceKeyIdOf(options.key), verify: (message, signature) => verify(null, message, options.key, signature) },
    ...(repo !== undefined ? { commitExists: (commit: string) => commitInRepository(repo, commit) } : {}),
    ...(approvals ? { approvals } : {}),
  });
}

async function fetchEvidence(ctx: CommandContext, workflowId: string, opts: { runId?: string; file?: string }): Promise<ExitCode> {
  const { client } = await ctx.temporal();
  let answer: EvidenceAnswer | null;
  try {
    answer = await client.workflow.getHandle(workflowId, opts.runId).query(evidenceQuery);
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw new CliError(`no workflow ${workflowId}${opts.runId ? ` run ${opts.runId}` : ''} (or its history is past the namespace's retention: fetch the record from the environment's S3 evidence location or from Git)`);
    if (/unknown query|did not register a handler|QueryNotRegistered|not found.*evidence/i.test((error as Error).message)) {
      throw new CliError(`${workflowId} recorded no evidence: it changed nothing, was started before evidence records existed, or has not finished delivering`);
    }
    throw error;
  }
  if (!answer) throw new CliError(`${workflowId} has recorded no evidence yet`);
  const where = [
    ...(answer.location.s3 ? [`s3://${answer.location.s3.bucket}/${answer.location.s3.key}${answer.location.s3.versionId ? ` (version ${answer.location.s3.versionId})` : ''}`] : []),
    ...(answer.location.git ? [`git ${answer.location.git.path} at ${answer.location.git.commit}`] : []),
  ];
  if (opts.file !== undefined) {
    writeFileSync(opts.file, answer.envelope);
    if (ctx.json) ctx.printJson({ file: opts.file, keyid: answer.keyid, sha256: answer.sha256, location: answer.location });
    else ctx.line(`wrote ${opts.file} (sha256 ${answer.sha256}, keyid ${answer.keyid}); stored at ${where.join('; ') || 'no external location (the catalog names none)'}`);
  } else if (ctx.json) {
    ctx.printJson({ keyid: answer.keyid, sha256: answer.sha256, location: answer.location, envelope: JSON.parse(answer.envelope) as unknown });
  } else {
    ctx.io.out(answer.envelope);
  }
  return ExitCode.ok;
}

/** The approvers' keys of a catalog file, for checking the approvals' signatures of a record. */
function approvalsOf(catalogFile: string): ApprovalSignatureVerifier {
  if (!existsSync(catalogFile)) throw new CliError(`${catalogFile} does not exist`, ExitCode.usage);
  try {
    return catalogApprovalVerifier(parseCatalog(parse(readFileSync(catalogFile, 'utf8')), catalogFile));
  } catch (error) {
    throw new CliError(error instanceof Error ? error.message : String(error), ExitCode.usage);
  }
}

async function verifyCommand(ctx: CommandContext, file: string, opts: { key: string; repo?: string; catalog?: string }): Promise<ExitCode> {
  if (!existsSync(file)) throw new CliError(`${file} does not exist`, ExitCode.usage);
  const key = evidencePublicKey(opts.key);
  const verdict = await verifyEvidenceFile(readFileSync(file, 'utf8'), {
    key,
    ...(opts.repo !== undefined ? { repo: opts.repo } : {}),
    ...(opts.catalog !== undefined ? { approvals: approvalsOf(opts.catalog) } : {}),
  });
  if (!verdict.ok) {
    if (ctx.json) ctx.printJson({ ok: false, problems: verdict.problems });
    else for (const problem of verdict.problems) ctx.io.err(`evidence refused: ${problem}\n`);
    return ExitCode.failed;
  }
  const p = verdict.statement.predicate;
  if (ctx.json) {
    ctx.printJson({ ok: true, keyid: evidenceKeyIdOf(key), subject: verdict.statement.subject[0], predicate: p, notes: verdict.notes });
  } else {
    ctx.line(`evidence verified: signed by ${evidenceKeyIdOf(key)}`);
    ctx.line(`${p.workflow.type} ${p.workflow.id} (run ${p.workflow.runId}): ${p.from ? `${p.from} → ` : ''}${p.to} at ${p.revision}, ${p.outcome}`);
    ctx.line(`subject ${verdict.statement.subject[0]?.name ?? ''}${opts.repo !== undefined ? ` (present in ${opts.repo})` : ''}`);
    ctx.line(`gates: ${p.gates.map((g) => `${g.gate} at ${g.passedAt}`).join(', ') || 'none'}; approvals: ${p.approvals.map((a) => `${a.name} (${a.signature ? 'signed' : 'named'})`).join(', ') || 'none'}`);
    for (const note of verdict.notes) ctx.line(`note: ${note}`);
  }
  return ExitCode.ok;
}

/** Registers `evidence <workflow-id>` and `evidence verify <file>`. */
export function registerEvidence(program: Command, runner: Runner): void {
  const evidence = program
    .command('evidence')
    .description("print a run's signed evidence record (DSSE envelope of an in-toto statement), or verify one offline")
    .argument('<workflow-id>', 'the workflow whose record to fetch (e.g. rollout-dev)')
    .option('--run-id <id>', 'a run of that workflow other than the latest')
    .option('--file <path>', 'write the record to this file instead of stdout')
    .action(async (workflowId: string, opts: { runId?: string; file?: string }, command: Command) => {
      await runner.run(command, (ctx) => fetchEvidence(ctx, workflowId, opts));
    });
  evidence
    .command('verify')
    .description('check a record offline: its envelope text, the signature by --key, the statement, and the subject commit in --repo')
    .argument('<file>', 'the record (as `logstack evidence` writes it, or as stored in S3 or Git)')
    .requiredOption('--key <public-key>', "the worker's evidence public key: a PEM file or text, or the raw 32 bytes (base64 or hex)")
    .option('--repo <path>', 'a local clone of the GitOps repository: the subject commit must exist in it')
    .option('--catalog <file>', "an environment catalog: each signed approval must verify by its approver's key listed there")
    .action(async (file: string, opts: { key: string; repo?: string }, command: Command) => {
      await runner.run(command, (ctx) => verifyCommand(ctx, file, opts));
    });
}
