/**
 * The sandbox's Temporal Web UI in a real browser: headless Chromium (Debian's `chromium`) driven by
 * playwright-core opens the page of a bootstrap run by the real worker, and reads what an engineer
 * would: the activity step summaries and the `LogstackEnvironment` / `LogstackRevision` search
 * attributes. A drift report then runs on a worker with the AES-256-GCM payload codec: the UI shows
 * ciphertext until the codec server is set as its codec endpoint (the browser's local storage, where
 * Settings → Codec Server keeps it), and then shows the decoded input, step summaries and result.
 * Screenshots are saved under `.artifacts/web-ui/`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import {
  CODEC_KEYS_ENV,
  codecFromEnv,
  dataConverterFromEnv,
  ENCRYPTED_ENCODING,
  generateCodecKey,
  KEY_ID_METADATA,
} from '../../codec/codec.ts';
import { startCodecServer, type RunningCodecServer } from '../../client/codec-server.ts';
import { loadWorkerConfig } from '../../config/index.ts';
import { workerOptions } from '../../worker/run.ts';
import { startE2E, type E2E } from '../e2e/harness.ts';
import { endLocksOnTaskQueue, endOrphanedLocks, knownGoodRevision } from '../worker/sandbox-runs.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ARTIFACTS = fileURLToPath(new URL('../../.artifacts/web-ui/', import.meta.url));
const ENV = 'dev';
const PAGE_TIMEOUT_MS = 30_000;

/** The browser globals the functions sent to the page use (the project compiles without the DOM library). Those functions are serialised: they close over nothing. */
interface PageGlobals {
  readonly document: { readonly body: { readonly innerText: string } };
  readonly localStorage: { setItem(key: string, value: string): void };
}

/** Resolves once the page's visible text contains `text` (a function, not a string: the UI's CSP forbids eval). */
async function waitForText(page: Page, text: string): Promise<void> {
  await page.waitForFunction((t) => (globalThis as unknown as PageGlobals).document.body.innerText.includes(t), text, {
    timeout: PAGE_TIMEOUT_MS,
  });
}

const bodyText = (page: Page): Promise<string> => page.locator('body').innerText();

describe(
  'Temporal Web UI in headless Chromium, on the sandbox',
  { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium)`, timeout: 300_000 },
  () => {
    let e2e: E2E;
    let browser: BrowserContext;
    let profile: string;
    let revision: string;
    const stops: (() => Promise<void>)[] = [];

    before(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      e2e = await startE2E();
      await endOrphanedLocks(e2e.client, [ENV], 'web-ui test');
      revision = await knownGoodRevision(e2e.sandbox, ENV);
      profile = mkdtempSync(join(tmpdir(), 'logstack-chromium-'));
      browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
        viewport: { width: 1400, height: 1000 },
      });
      browser.setDefaultTimeout(PAGE_TIMEOUT_MS);
    });

    after(async () => {
      await browser?.close();
      if (profile) rmSync(profile, { recursive: true, force: true });
      for (const stop of stops.reverse()) await stop();
      if (e2e) {
        await endLocksOnTaskQueue(e2e.client, [ENV], e2e.taskQueue, 'web-ui test');
        await e2e.stop();
      }
    });

    const workflowUrl = (workflowId: string): string =>
      `${e2e.sandbox.temporal.ui}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`;

    it('shows a bootstrap’s activity step summaries and its search attributes', async () => {
      const handle = await e2e.client.workflow.start('bootstrapEnvironment', {
        taskQueue: e2e.taskQueue,
        workflowId: `web-ui-bootstrap-${ENV}-${process.pid}`,
        args: [{ environment: ENV, revision }],
      });
      await handle.result();
      // The run holds no lease any more; its lock leaves with this test's worker (the next run starts its own).
      await endLocksOnTaskQueue(e2e.client, [ENV], e2e.taskQueue, 'web-ui test');

      const page = await browser.newPage();
      await page.goto(workflowUrl(handle.workflowId));
      await waitForText(page, `ensure bucket logstack-${ENV}-loki`);
      const history = await bodyText(page);
      for (const summary of [
        `ensure bucket logstack-${ENV}-loki`,
        `ensure IAM user logstack-${ENV}-loki`,
        `seed secret logstack/${ENV}/loki-s3`,
        `record ${ENV} at ${revision.slice(0, 7)} (verified)`,
      ]) {
        assert.ok(history.includes(summary), `step summary "${summary}" on the page`);
      }
      // The deployed-state read under the lock is a local step: the timeline shows it by its activity type (its
      // summary is stored on its marker event, which the timeline does not label).
      assert.ok(history.includes('readDeployedState'), 'the local step, by its activity type');
      assert.ok(history.includes('bootstrapEnvironment'), 'workflow type shown');
      await page.screenshot({ path: join(ARTIFACTS, 'bootstrap-history.png'), fullPage: true });

      await page.getByRole('tab', { name: 'Search Attributes' }).click();
      await waitForText(page, '"LogstackEnvironment"');
      const attributes = await bodyText(page);
      assert.match(attributes, new RegExp(`"LogstackEnvironment":\\s*"${ENV}"`));
      assert.match(attributes, new RegExp(`"LogstackRevision":\\s*"${revision}"`));
      await page.screenshot({ path: join(ARTIFACTS, 'bootstrap-search-attributes.png') });
      await page.close();
    });

    it('with the codec server set as the UI’s codec endpoint, shows the decoded input and step summaries of an encrypted run', async () => {
      // The worker's and the codec server's keys, as `LOGSTACK_CODEC_KEYS=… npm run worker` and
      // `logstack codec-server` read them.
      const codecEnv = { [CODEC_KEYS_ENV]: generateCodecKey('web-ui') };
      const codec = await codecFromEnv(codecEnv, 'default');
      const dataConverter = await dataConverterFromEnv(codecEnv, 'default');
      assert.ok(codec && dataConverter);
      const codecServer: RunningCodecServer = await startCodecServer({
        codec,
        origins: [e2e.sandbox.temporal.ui],
        // The UI's codec settings send no static token: serve it without one, on loopback only.
        noAuth: true,
        port: 0,
      });
      stops.push(() => codecServer.close());

      const taskQueue = `${e2e.taskQueue}-codec`;
      const config = loadWorkerConfig({ ...process.env, LOGSTACK_TASK_QUEUE: taskQueue });
      const connection = await NativeConnection.connect({ address: config.temporal.address });
      const worker = await Worker.create({ ...workerOptions(config, connection), dataConverter });
      const running = worker.run();
      stops.push(async () => {
        worker.shutdown();
        await running;
        await connection.close();
      });

      // A drift report: read-only and lock-free, so no lock workflow run by another worker (without this
      // test's key) is ever sent a payload it cannot decrypt.
      const client = new Client({ connection: e2e.client.connection, dataConverter });
      const handle: WorkflowHandle = await client.workflow.start('remediateDrift', {
        taskQueue,
        workflowId: `web-ui-codec-drift-${ENV}-${process.pid}`,
        args: [{ mode: 'report', environments: [ENV] }],
      });
      await handle.result();

      // History holds ciphertext: the input as the server stores it.
      const history = await e2e.client.workflow.getHandle(handle.workflowId).fetchHistory();
      const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
      assert.equal(new TextDecoder().decode(input?.metadata?.['encoding'] ?? new Uint8Array()), ENCRYPTED_ENCODING);
      assert.equal(
        new TextDecoder().decode(input?.metadata?.[KEY_ID_METADATA] ?? new Uint8Array()),
        codec.activeKeyId,
        'sealed under the id of the active key',
      );
      const ciphertext = Buffer.from(input?.data ?? new Uint8Array()).toString('base64');
      assert.ok(ciphertext.length > 40, 'the stored input has ciphertext');

      const page = await browser.newPage();
      await page.goto(workflowUrl(handle.workflowId));
      await waitForText(page, 'remediateDrift');
      await waitForText(page, 'Event History');
      // The UI shows the stored payload as is: its ciphertext, in base64 (the input panel renders after the page).
      await waitForText(page, ciphertext);
      const encrypted = await bodyText(page);
      assert.doesNotMatch(encrypted, /"mode":\s*"report"/, 'without a codec endpoint the input is not readable');
      assert.ok(
        !encrypted.includes(`scan drift in ${ENV}`),
        'without a codec endpoint the step summaries are not readable',
      );
      await page.screenshot({ path: join(ARTIFACTS, 'codec-off.png'), fullPage: true });

      // What Settings → Codec Server stores: the endpoint, and that it overrides the server's setting.
      await page.evaluate((endpoint) => {
        const { localStorage } = globalThis as unknown as PageGlobals;
        localStorage.setItem('endpoint', JSON.stringify(endpoint));
        localStorage.setItem('overrideRemoteCodecConfiguration', 'true');
      }, codecServer.url);
      await page.reload();
      await waitForText(page, `scan drift in ${ENV}`);
      const decoded = await bodyText(page);
      assert.match(decoded, /"mode":\s*"report"/, 'the workflow input JSON, decoded');
      assert.match(
        decoded,
        new RegExp(`"environments":\\s*\\[\\s*"${ENV}"\\s*\\]`),
        'the workflow input JSON, decoded',
      );
      // The summaries of activities, decoded (the wait above: `scan drift in …`); a local step (`load-catalog`) shows in
      // the timeline by its activity type (the summary is stored on its marker event, which the timeline does not label).
      assert.ok(decoded.includes('loadCatalog'), 'the local step, by its activity type');
      assert.match(decoded, /"findings":/, 'the result, decoded');
      await page.screenshot({ path: join(ARTIFACTS, 'codec-on.png'), fullPage: true });

      // Search attributes are never encrypted: runs stay filterable by environment.
      await page.getByRole('tab', { name: 'Search Attributes' }).click();
      await waitForText(page, '"LogstackEnvironment"');
      assert.match(await bodyText(page), new RegExp(`"LogstackEnvironment":\\s*"${ENV}"`));
      await page.close();
    });
  },
);
