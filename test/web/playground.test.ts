import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { buildPlayground } from '../../scripts/build-playground.js';
import { PLAYGROUND_CSP } from '../../src/routes/playground.js';
import { launchChromium } from '../support/browser.js';
import { type ChatMessage, defaultReply, EMBED_MODEL, LLM_MODEL, NimEmulator } from '../support/nim-emulator.js';
import { EXAMPLE_DOCUMENTS, EXAMPLE_QUERIES, startTestApp, type TestApp } from '../support/test-app.js';
import { machineNodeLane } from '../support/lanes.js';

/** Screenshots of each view, kept as test artifacts (.tmp/ is ignored by git). */
const ARTIFACTS = fileURLToPath(new URL('../../.tmp/playground/', import.meta.url));
const XSS = '<img src=x onerror="window.__xss = true">';
const LONG_ANSWER = Array.from({ length: 300 }, (_, i) => `word${i}`).join(' ');

/** The emulated LLM answers at a reading pace, and for one question at length, so a test can cancel it. */
const reply = (messages: ChatMessage[]) =>
  messages.some((message) => message.role === 'user' && message.content.includes('at length')) ? LONG_ANSWER : defaultReply(messages);

// Built once for both suites below; the routes serve dist/playground as `npm run build` leaves it.
let browser: Browser;
before(async () => {
  await buildPlayground();
  browser = await launchChromium();
});
after(() => browser?.close());

describe('the playground in headless Chromium, against the service and the NIM emulator', machineNodeLane, () => {
  let nim: NimEmulator;
  let test: TestApp;
  let base: string;
  let context: BrowserContext;
  let page: Page;
  const consoleErrors: string[] = [];

  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    nim = await NimEmulator.start({ models: [EMBED_MODEL, LLM_MODEL], tokenIntervalMs: 40, reply });
    test = await startTestApp({ NIM_EMBEDDINGS_URL: nim.url, NIM_LLM_URL: nim.url, NIM_EMBEDDINGS_MODEL: EMBED_MODEL, NIM_LLM_MODEL: LLM_MODEL });
    base = await test.app.listen({ port: 0, host: '127.0.0.1' });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') consoleErrors.push(`${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => consoleErrors.push(`page error: ${error.message}`));
    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-ready="true"]');
  });
  after(async () => {
    await context?.close();
    await test?.close();
    await nim?.stop();
  });

  it('shows the providers, models and store in the status view', async () => {
    const status = page.locator('#status-list');
    await status.getByText('NIM · nvidia/nv-embedqa-e5-v5').waitFor();
    assert.match(await status.innerText(), /Answers\s+NIM · mistralai\/mixtral-8x7b-instruct-v0\.1/);
    assert.match(await status.innerText(), /Store\s+hnsw · nvidia\/nv-embedqa-e5-v5/);
    assert.equal(await page.locator('#offline-banner').isHidden(), true, 'no offline banner with NIMs configured');
    assert.equal(await page.locator('#key-form').isHidden(), true, 'no key asked for when the service needs none');
    await page.locator('#status').screenshot({ path: join(ARTIFACTS, 'status.png') });
  });

  it('ingests the example texts and a markup document pasted into the page, and lists them', async () => {
    await page.getByRole('button', { name: "Paste the example's five texts" }).click();
    await page.getByLabel('Texts to ingest').press('End');
    await page.getByLabel('Texts to ingest').pressSequentially(`\n${XSS}`);
    await page.getByRole('button', { name: 'Ingest', exact: true }).click();
    await page.locator('#ingest-message', { hasText: 'Ingested 6 documents' }).waitFor();
    await page.locator('#documents-table tbody tr').nth(5).waitFor();

    const listed = await test.app.inject({ method: 'GET', url: '/v1/documents' });
    const stored = listed.json().documents.map((document: { id: string }) => document.id);
    assert.equal(stored.length, 6);
    const texts = await Promise.all(
      stored.map(async (id: string) => (await test.app.inject({ method: 'GET', url: `/v1/documents/${id}` })).json().text),
    );
    assert.deepEqual(texts.sort(), [...EXAMPLE_DOCUMENTS, XSS].sort());
    const shownIds = await page.locator('#documents-table tbody tr td:first-child').allTextContents();
    assert.deepEqual(shownIds.sort(), [...stored].sort());
    await page.locator('#collections').screenshot({ path: join(ARTIFACTS, 'collections.png') });
  });

  it('ingests a large paste into a new collection in batches, with progress, and files chosen beside it', async () => {
    await page.getByLabel('New collection').fill('bulk');
    await page.getByRole('button', { name: 'Create' }).click();
    const lines = Array.from({ length: 230 }, (_, i) => `Bulk line ${i} about topic ${i % 7}.`);
    await page.getByLabel('Texts to ingest').fill(lines.join('\n'));
    await page.getByLabel(/Or choose .txt/).setInputFiles([{ name: '00-notes.md', mimeType: 'text/markdown', buffer: Buffer.from('# Notes\n\nGelato is best in summer.') }]);
    const progress = page.evaluate(
      () =>
        new Promise<number[]>((resolve) => {
          const bar = document.getElementById('ingest-progress') as HTMLProgressElement;
          const seen: number[] = [];
          new MutationObserver(() => {
            if (!seen.includes(bar.value)) seen.push(bar.value);
            if (bar.hidden && seen.length > 0) resolve(seen);
          }).observe(bar, { attributes: true });
        }),
    );
    await page.getByRole('button', { name: 'Ingest', exact: true }).click();
    await page.locator('#ingest-message', { hasText: 'Ingested 231 documents' }).waitFor();
    assert.deepEqual((await progress).filter((value) => value > 0), [100, 200, 231]);

    const collections = (await test.app.inject({ method: 'GET', url: '/v1/collections' })).json().collections;
    assert.deepEqual(collections.find((item: { name: string }) => item.name === 'bulk')?.documents, 231);
    const file = await test.app.inject({ method: 'GET', url: '/v1/documents/00-notes.md?collection=bulk' });
    assert.deepEqual([file.json().text, file.json().metadata], ['# Notes\n\nGelato is best in summer.', { source: '00-notes.md' }]);

    // The table is refreshed after the message is shown.
    await page.locator('#documents-table tbody tr').nth(49).waitFor();
    assert.equal(await page.locator('#documents-table tbody tr').count(), 50, 'one page of documents');
    await page.getByRole('button', { name: 'Load more' }).click();
    await page.locator('#documents-table tbody tr').nth(99).waitFor();
    await page.getByRole('button', { name: 'Delete 00-notes.md' }).click();
    await page.locator('#documents-message', { hasText: 'Deleted 00-notes.md' }).waitFor();
    assert.equal((await test.app.inject({ method: 'GET', url: '/v1/documents/00-notes.md?collection=bulk' })).statusCode, 404);
    await page.getByLabel('Collection', { exact: true }).selectOption('default');
    await page.locator('#documents-caption', { hasText: 'Documents in default' }).waitFor();
  });

  it('chats: a follow-up is searched with the earlier turn, its query shown above its sources; the conversation survives a reload', async () => {
    const turns = () =>
      page.locator('#chat-turns > li').evaluateAll((items) =>
        items.map((item) => ({
          question: item.querySelector('.question')?.textContent,
          answer: item.querySelector('.answer')?.textContent,
          query: item.querySelector('.standalone-query q')?.textContent,
          sources: [...item.querySelectorAll('.sources li')].map((source) => source.getAttribute('data-id')),
        })),
      );
    const conversationId = () => page.evaluate(() => localStorage.getItem('nim-rag-conversation'));
    const stored = async (id: string) => (await test.app.inject({ method: 'GET', url: `/v1/conversations/${id}` })).json();
    await page.getByLabel('Collection', { exact: true }).selectOption('default');
    const message = page.getByLabel('Message');
    const answered = (turn: number) => page.locator(`#chat-turns > li:nth-child(${turn}) .answer[data-done="true"]`).waitFor();

    await message.fill('Tell me about Komchatka.');
    await page.getByRole('button', { name: 'Send' }).click();
    await answered(1);
    await message.fill('What is the weather like there?');
    await message.press('Enter');
    await answered(2);
    const id = (await conversationId())!;
    assert.match(id, /^conv_[0-9a-f]{32}$/);
    const conversation = await stored(id);
    assert.deepEqual(
      conversation.turns.map((turn: any) => turn.question),
      ['Tell me about Komchatka.', 'What is the weather like there?'],
    );
    const [, followUp] = conversation.turns;
    assert.match(followUp.standalone_query, /Komchatka/, 'the follow-up is searched with what the first turn was about');
    assert.equal(followUp.sources[0].text, EXAMPLE_DOCUMENTS[0]);
    const lastCall = nim.requestsTo('/v1/chat/completions').at(-1)!.body.messages as ChatMessage[];
    assert.ok(lastCall.some((entry) => entry.role === 'user' && entry.content === 'Tell me about Komchatka.'), 'the NIM was given the earlier turn');
    const shown = await turns();
    assert.deepEqual(
      shown,
      conversation.turns.map((turn: any) => ({ question: `You: ${turn.question}`, answer: turn.answer, query: turn.standalone_query, sources: turn.sources.map((source: any) => source.id) })),
    );
    assert.match((await page.locator('#chat-about').textContent()) ?? '', new RegExp(`Conversation ${id} on collection default`));
    await page.locator('#chat').screenshot({ path: join(ARTIFACTS, 'chat.png') });

    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    await page.locator('#chat-message', { hasText: 'Restored the conversation: 2 turns.' }).waitFor();
    assert.deepEqual(await turns(), shown);

    await page.getByRole('button', { name: 'New conversation' }).click();
    assert.deepEqual([await turns(), await conversationId()], [[], null]);
    await message.fill('What is the weather like there?');
    await page.getByRole('button', { name: 'Send' }).click();
    await answered(1);
    const alone = await conversationId();
    assert.notEqual(alone, id);
    assert.equal((await turns())[0]?.query, 'What is the weather like there?', 'with no earlier turn the question is searched as it is');
    const aloneScore = Number(await page.locator('#chat-turns > li .sources li').first().getAttribute('data-score'));
    assert.ok(aloneScore < followUp.sources[0].score, `the follow-up's words alone match Komchatka less (${aloneScore} < ${followUp.sources[0].score})`);

    assert.equal((await test.app.inject({ method: 'DELETE', url: `/v1/conversations/${alone}` })).statusCode, 204);
    const loggedBefore = consoleErrors.length;
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    await page.locator('#chat-message', { hasText: 'The stored conversation is gone' }).waitFor();
    // Chromium logs the 404 of the deleted conversation's GET; that one is expected here.
    const logged = consoleErrors.splice(loggedBefore);
    assert.deepEqual(logged.filter((entry) => !/status of 404/.test(entry)), []);
    assert.deepEqual([await turns(), await conversationId()], [[], null]);
    await message.fill('Tell me about Komchatka.');
    await page.getByRole('button', { name: 'Send' }).click();
    await answered(1);
    const last = (await conversationId())!;
    assert.equal((await stored(last)).turns.length, 1);

    await message.fill('Tell me about Italy, at length');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.locator('#chat-turns > li:nth-child(2) .answer', { hasText: 'word1' }).waitFor();
    await page.getByRole('button', { name: 'Stop' }).click();
    await page.locator('#chat-message', { hasText: 'Stopped: this turn is not stored.' }).waitFor();
    assert.equal(await page.locator('#chat-turns > li:nth-child(2)').getAttribute('class'), 'turn unsaved');
    assert.equal((await stored(last)).turns.length, 1, 'the stopped answer left no turn behind');
  });

  it('streams an answer: the sources first, tokens before the end, the quoted source marked', async () => {
    await page.getByLabel('Question').fill("What's the weather like in Komchatka?");
    // Watches the answer from inside the page: was the first token shown while the stream was still open?
    const firstToken = page.evaluate(
      () =>
        new Promise<{ sources: number; done: boolean }>((resolve) => {
          const answer = document.getElementById('ask-answer')!;
          new MutationObserver((_records, observer) => {
            if (!answer.dataset.tokens) return;
            observer.disconnect();
            resolve({ sources: document.querySelectorAll('#ask-sources li').length, done: answer.dataset.done === 'true' });
          }).observe(answer, { attributes: true, childList: true });
        }),
    );
    await page.getByRole('button', { name: 'Ask', exact: true }).click();
    const atFirstToken = await firstToken;
    assert.equal(atFirstToken.done, false, 'the first token arrived before the stream ended');
    assert.ok(atFirstToken.sources > 0, 'the sources were shown before the first token');
    await page.waitForSelector('#ask-answer[data-done="true"]');

    const answer = await page.locator('#ask-answer').evaluate((element) => element.firstChild?.textContent + [...element.childNodes].slice(1).map((node) => (node.nodeName === 'MARK' ? node.firstChild?.textContent : node.textContent)).join(''));
    assert.equal(answer, `Emulated answer from: ${EXAMPLE_DOCUMENTS[0]}`);
    assert.ok(Number(await page.locator('#ask-answer').getAttribute('data-tokens')) > 5, 'the answer came in many pieces');
    const firstSource = page.locator('#ask-sources li').first();
    assert.equal(await firstSource.locator('blockquote').textContent(), EXAMPLE_DOCUMENTS[0]);
    assert.match((await firstSource.getAttribute('class')) ?? '', /\bused\b/);
    assert.equal(await page.locator('#ask-answer mark[data-source="0"]').count(), 1);
    const scores = await page.locator('#ask-sources li').evaluateAll((items) => items.map((item) => Number(item.getAttribute('data-score'))));
    assert.deepEqual(scores, [...scores].sort((a, b) => b - a), 'sources best first, with their scores');
    await page.locator('#ask').screenshot({ path: join(ARTIFACTS, 'ask.png') });
  });

  it('passes the chosen language to the chain', async () => {
    await page.getByLabel('Answer language').selectOption('French');
    await page.getByRole('button', { name: 'Ask', exact: true }).click();
    await page.waitForSelector('#ask-answer[data-done="true"]');
    assert.match((await page.locator('#ask-answer').textContent()) ?? '', /^Emulated answer in French from:/);
    await page.getByLabel('Answer language').selectOption('');
  });

  it('cancels a generation: the fetch is aborted and the service closes its stream to the NIM', async () => {
    const cancelledBefore = nim.cancelledStreams;
    await page.getByLabel('Question').fill('Tell me about Italy, at length');
    await page.getByRole('button', { name: 'Ask', exact: true }).click();
    await page.waitForSelector('#ask-answer[data-tokens]');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('#ask-message', { hasText: 'Cancelled after' }).waitFor();
    const deadline = Date.now() + 5000;
    while (nim.cancelledStreams === cancelledBefore && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(nim.cancelledStreams, cancelledBefore + 1, 'the NIM saw its stream closed early');
    const shown = Number(await page.locator('#ask-answer').getAttribute('data-tokens'));
    assert.ok(shown < LONG_ANSWER.split(' ').length, `stopped after ${shown} pieces`);
    assert.equal(await page.getByRole('button', { name: 'Ask', exact: true }).isEnabled(), true);
  });

  it('searches with scores and metadata, and filters by metadata', async () => {
    await page.getByLabel('Query', { exact: true }).fill('pasta pizza');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.locator('#search-message', { hasText: 'results in default' }).waitFor();
    const expected = (await test.app.inject({ method: 'POST', url: '/v1/search', payload: { query: 'pasta pizza', k: 5 } })).json().results;
    const rows = await page.locator('#search-results tbody tr').evaluateAll((items) =>
      items.map((item) => ({ id: item.getAttribute('data-id'), score: Number(item.getAttribute('data-score')), text: item.children[3]?.textContent })),
    );
    assert.deepEqual(rows, expected.map((hit: any) => ({ id: hit.id, score: hit.score, text: hit.text })));

    await page.getByLabel('Metadata filter (JSON, optional)').fill('{"lang": "zh"}');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.locator('#search-message', { hasText: '0 results' }).waitFor();
    await page.getByLabel('Metadata filter (JSON, optional)').fill('{lang');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.locator('#search-message', { hasText: 'The filter is not valid' }).waitFor();
    await page.getByLabel('Metadata filter (JSON, optional)').fill('');
    await page.locator('#search').screenshot({ path: join(ARTIFACTS, 'search.png') });
  });

  it("draws the example's heat map with the API's values, the best document per query marked", async () => {
    await page.getByRole('button', { name: 'Use the example' }).click();
    await page.getByRole('button', { name: 'Draw' }).click();
    await page.locator('#heatmap-message', { hasText: '5 × 5' }).waitFor();
    const { matrix } = (
      await test.app.inject({ method: 'POST', url: '/v1/similarity', payload: { queries: EXAMPLE_QUERIES, documents: EXAMPLE_DOCUMENTS } })
    ).json();
    const cells = await page.locator('#heatmap-table tbody tr').evaluateAll((rows) =>
      rows.map((row) => [...row.querySelectorAll('td')].map((cell) => Number(cell.dataset.value))),
    );
    assert.deepEqual(cells, matrix);
    const best = await page.locator('#heatmap-table tbody tr').evaluateAll((rows) => rows.map((row) => [...row.querySelectorAll('td')].findIndex((cell) => cell.classList.contains('best'))));
    assert.deepEqual(best, matrix.map((row: number[]) => row.indexOf(Math.max(...row))));

    // Hovering the cell of query 2 and document 2 shows its value.
    const canvas = page.locator('#heatmap-canvas');
    const size = await canvas.boundingBox();
    const cell = (size!.width - 36) / 5;
    await canvas.hover({ position: { x: 36 + cell * 1.5, y: 36 + Math.min(48, cell) * 1.5 } });
    assert.equal(Number(await page.locator('#heatmap-tip').getAttribute('data-value')), matrix[1][1]);
    // And so does the keyboard: focus the map, move right once.
    await canvas.focus();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.locator('#heatmap-tip').getAttribute('data-row'), '1');
    assert.equal(Number(await page.locator('#heatmap-tip').getAttribute('data-value')), matrix[1][1]);
    await page.locator('#heatmap').screenshot({ path: join(ARTIFACTS, 'heatmap.png') });
  });

  it('draws a large matrix (40 × 600) on the canvas, each value still on hover', async () => {
    const queries = Array.from({ length: 40 }, (_, i) => `query ${i} about topic ${i % 13}`);
    const documents = Array.from({ length: 600 }, (_, i) => `document ${i} on topic ${i % 17}`);
    await page.getByLabel('Queries, one per line').fill(queries.join('\n'));
    await page.getByLabel('Documents, one per line').fill(documents.join('\n'));
    const answered = page.waitForResponse((response) => response.url().endsWith('/v1/similarity'));
    await page.getByRole('button', { name: 'Draw' }).click();
    const { matrix } = await (await answered).json();
    await page.locator('#heatmap-message', { hasText: '40 × 600' }).waitFor();
    assert.equal(await page.locator('#heatmap-details').isHidden(), true, 'no 24 000-cell table');
    // The map scrolls sideways; the cell of query 30 and document 20 is in view.
    const drawn = await page.locator('#heatmap-canvas').evaluate((canvas: HTMLCanvasElement) => ({ width: canvas.clientWidth, height: canvas.clientHeight }));
    const cell = { width: (drawn.width - 36) / 600, height: (drawn.height - 36) / 40 };
    await page.locator('#heatmap-canvas').hover({ position: { x: 36 + cell.width * 20.5, y: 36 + cell.height * 30.5 } });
    assert.deepEqual(
      [await page.locator('#heatmap-tip').getAttribute('data-row'), await page.locator('#heatmap-tip').getAttribute('data-column')],
      ['30', '20'],
    );
    assert.equal(Number(await page.locator('#heatmap-tip').getAttribute('data-value')), matrix[30][20]);
  });

  it('keeps the markup document inert: shown as its characters, never run', async () => {
    await page.getByLabel('Query', { exact: true }).fill('img src onerror');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.locator('#search-results td', { hasText: 'onerror' }).first().waitFor();
    assert.equal(await page.locator('#search-results td', { hasText: 'onerror' }).first().textContent(), XSS);
    assert.equal(await page.evaluate(() => (window as unknown as { __xss?: boolean }).__xss), undefined);
    assert.equal(await page.locator('main img').count(), 0);
  });

  it('has no serious or critical axe-core violation, with every view filled in', async () => {
    const axe = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
    await page.evaluate(axe);
    await page.getByRole('button', { name: 'Use the example' }).click();
    await page.getByRole('button', { name: 'Draw' }).click();
    await page.locator('#heatmap-message', { hasText: '5 × 5' }).waitFor();
    await page.locator('#heatmap-details summary').click();
    const violations = await page.evaluate(async () => {
      const result = await (window as any).axe.run(document, { resultTypes: ['violations'] });
      return result.violations
        .filter((violation: any) => violation.impact === 'serious' || violation.impact === 'critical')
        .map((violation: any) => `${violation.id}: ${violation.nodes.map((node: any) => node.target.join(' ')).join(', ')}`);
    });
    assert.deepEqual(violations, []);
    await page.screenshot({ path: join(ARTIFACTS, 'page.png'), fullPage: true });
  });

  it('fits a phone-sized viewport without sideways scrolling', async () => {
    const phone = await browser.newContext({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true });
    const small = await phone.newPage();
    await small.goto(`${base}/`);
    await small.waitForSelector('body[data-ready="true"]');
    const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
    await small.screenshot({ path: join(ARTIFACTS, 'phone.png') });
    await phone.close();
  });

  it('logged no console error or warning, and the page carries a strict CSP', async () => {
    assert.deepEqual(consoleErrors, []);
    const response = await page.request.get(`${base}/`);
    assert.match(response.headers()['content-security-policy'] ?? '', /script-src 'self';/);
    assert.doesNotMatch(response.headers()['content-security-policy'] ?? '', /unsafe-inline/);
  });
});

describe('the playground over HTTP', () => {
  const KEY = 'playground-test-key-0123456789';
  let test: TestApp;
  let off: TestApp;
  before(async () => {
    test = await startTestApp({ API_KEYS: KEY });
    off = await startTestApp({ PLAYGROUND: 'false' });
  });
  after(async () => {
    await test?.close();
    await off?.close();
  });

  it('serves the page without a key, revalidated by ETag, under a strict CSP', async () => {
    const page = await test.app.inject({ method: 'GET', url: '/' });
    assert.equal(page.statusCode, 200);
    assert.match(page.headers['content-type'] as string, /^text\/html/);
    assert.equal(page.headers['cache-control'], 'no-cache');
    assert.equal(page.headers['content-security-policy'], PLAYGROUND_CSP);
    const again = await test.app.inject({ method: 'GET', url: '/', headers: { 'if-none-match': page.headers.etag as string } });
    assert.equal(again.statusCode, 304);
    assert.equal((await test.app.inject({ method: 'GET', url: '/v1/collections' })).statusCode, 401, 'the API itself still needs the key');
  });

  it('serves the hashed assets for a year, and nothing outside its folder', async () => {
    const html = (await test.app.inject({ method: 'GET', url: '/' })).body;
    const assets = [...html.matchAll(/(?:src|href)="playground\/([^"]+)"/g)].map((match) => match[1]!);
    assert.deepEqual(assets.map((name) => name.replace(/-[A-Z0-9]+\./, '.')).sort(), ['app.js', 'styles.css']);
    for (const asset of assets) {
      const response = await test.app.inject({ method: 'GET', url: `/playground/${asset}` });
      assert.equal(response.statusCode, 200, asset);
      assert.equal(response.headers['cache-control'], 'public, max-age=31536000, immutable');
    }
    const missing = await test.app.inject({ method: 'GET', url: '/playground/app-NOTBUILT.js' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.headers['content-type'], 'application/problem+json; charset=utf-8');
    for (const url of ['/playground/..%2Fpackage.json', '/playground/index.html', '/playground/%2E%2E%2Fserver.js']) {
      const response = await test.app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 400, url);
    }
  });

  it('is off with PLAYGROUND=false: 404 as problem+json', async () => {
    for (const url of ['/', '/playground/app.js']) {
      const response = await off.app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 404, url);
      assert.equal(response.json().detail, 'the playground is turned off (PLAYGROUND=false)');
    }
  });

  it('asks for the API key in the page and keeps it in sessionStorage, never in the URL', async () => {
    const base = await test.app.listen({ port: 0, host: '127.0.0.1' });
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const authorized: string[] = [];
      page.on('request', (request) => {
        if (request.headers().authorization === `Bearer ${KEY}`) authorized.push(new URL(request.url()).pathname);
      });
      await page.goto(`${base}/`);
      await page.getByLabel('API key').waitFor();
      await page.getByLabel('API key').fill(KEY);
      await page.getByRole('button', { name: 'Use key' }).click();
      await page.locator('#status-list', { hasText: 'Collections' }).waitFor();
      assert.equal(await page.evaluate(() => sessionStorage.getItem('nim-rag-api-key')), KEY);
      assert.ok(!page.url().includes(KEY));
      assert.ok(authorized.includes('/v1/collections'), authorized.join(', '));
      assert.equal(await page.locator('#key-form').isHidden(), true);
      await page.locator('#status-list', { hasText: 'Key' }).waitFor();
      assert.match((await page.locator('#status-list').textContent()) ?? '', /Keyapi-key-[0-9a-f]{12} · may read, write, admin · collections \*/, 'what the key may do (GET /v1/me)');
      assert.equal(await page.evaluate(() => document.body.dataset.scopes), 'read write admin');
      assert.equal(
        await page.locator('#offline-banner').textContent(),
        'Offline mode: embeddings are lexical (shared words, not meaning), and answers are sentences quoted from your texts, not generated. Configure a NIM to change this.',
      );
    } finally {
      await context.close();
    }
  });
});
