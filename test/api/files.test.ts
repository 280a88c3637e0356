import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeDocx, makeEncryptedPdf, makePdf, makeScannedPdf } from '../support/documents.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

type Upload = { name: string; content: Uint8Array | string };

async function upload(base: string, files: Upload[], options: { query?: string; fields?: Record<string, string> } = {}) {
  const form = new FormData();
  for (const [name, value] of Object.entries(options.fields ?? {})) form.append(name, value);
  for (const file of files) form.append('file', new Blob([file.content]), file.name);
  const response = await fetch(`${base}/v1/files${options.query ?? ''}`, { method: 'POST', body: form });
  return { status: response.status, type: response.headers.get('content-type'), headers: response.headers, body: (await response.json()) as any };
}

async function search(base: string, query: string, extra: Record<string, unknown> = {}) {
  const response = await fetch(`${base}/v1/search`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, k: 10, ...extra }),
  });
  return ((await response.json()) as { results: Array<{ id: string; text: string; metadata: Record<string, unknown> }> }).results;
}

const PAGES = [
  'Quarterly report\nRevenue grew in the northern region.',
  'Operations\nThe Lisbon warehouse opened in March.',
  'Outlook\nThe board expects penguins to migrate south.',
];

describe('POST /v1/files', () => {
  let test: TestApp;
  let base: string;

  before(async () => {
    test = await startTestApp({ EMBEDDINGS_PROVIDER: 'local', LLM_PROVIDER: 'local', UPLOAD_MAX_FILE_BYTES: '200000', UPLOAD_MAX_PAGES: '5' });
    base = await test.app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(() => test.close());

  let report: Uint8Array;

  it('stores a PDF page by page: each hit knows its file and page', async () => {
    report = await makePdf(PAGES);
    const reply = await upload(base, [{ name: 'report.pdf', content: report }]);
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
    assert.deepEqual(
      reply.body.files.map((file: any) => [file.name, file.id, file.type, file.sections, file.status]),
      [['report.pdf', 'report.pdf', 'pdf', 3, 'created']],
    );
    const [hit] = await search(base, 'Lisbon warehouse opened');
    assert.equal(hit?.id, 'report.pdf#page-2');
    assert.equal(hit?.metadata.page, 2);
    assert.equal(hit?.metadata.source, 'report.pdf');
    assert.match(hit?.text ?? '', /Lisbon warehouse opened in March/);
  });

  it('uploading the same file again embeds nothing; a new version replaces the old one', async () => {
    const again = await upload(base, [{ name: 'report.pdf', content: report }]);
    assert.equal(again.status, 200);
    assert.equal(again.body.embedded, 0);
    assert.equal(again.body.files[0].status, 'unchanged');

    const shorter = await upload(base, [{ name: 'report.pdf', content: await makePdf([PAGES[0] as string, 'Operations\nThe Porto office closed.']) }]);
    assert.equal(shorter.status, 200);
    assert.equal(shorter.body.files[0].status, 'updated');
    const ids = (await search(base, 'report', { filter: { file_id: 'report.pdf' } })).map((hit) => hit.id).sort();
    assert.deepEqual(ids, ['report.pdf#page-1', 'report.pdf#page-2']);
    assert.equal((await search(base, 'penguins migrate south', { filter: { file_id: 'report.pdf' } })).some((hit) => hit.text.includes('penguins')), false);
  });

  it('keeps DOCX, HTML and Markdown headings; scripts, styles and navigation never reach a chunk', async () => {
    const html =
      '<!doctype html><html><head><style>body{color:red}</style><script>var tracker = "SCRIPTTEXT";</script></head><body>' +
      '<nav><a href="/">NAVLINK home</a></nav><h1>Gardening</h1><p>Tomatoes need full sun.</p>' +
      '<h2>Watering</h2><p>Water the roots early in the morning.</p><footer>FOOTERTEXT</footer></body></html>';
    const reply = await upload(base, [
      { name: 'guide.docx', content: await makeDocx(['# Setup', 'Install the espresso machine on a level counter.', '## Cleaning', 'Descale the boiler monthly.']) },
      { name: 'garden.html', content: html },
      { name: 'notes.md', content: '# Travel\n\nPack light.\n\n## Trains\n\nThe night train to Vienna leaves at ten.\n' },
    ], { fields: { metadata: JSON.stringify({ team: 'docs' }) } });
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
    assert.deepEqual(reply.body.files.map((file: any) => [file.type, file.sections]), [['docx', 2], ['html', 2], ['markdown', 2]]);

    const [descale] = await search(base, 'descale the boiler');
    assert.deepEqual([descale?.id, descale?.metadata.heading, descale?.metadata.team], ['guide.docx#section-2', 'Cleaning', 'docs']);
    const [water] = await search(base, 'water the roots');
    assert.deepEqual([water?.id, water?.metadata.heading], ['garden.html#section-2', 'Watering']);
    const [train] = await search(base, 'night train Vienna');
    assert.deepEqual([train?.id, train?.metadata.heading], ['notes.md#section-2', 'Trains']);

    const all = await search(base, 'SCRIPTTEXT NAVLINK FOOTERTEXT color red', { k: 100 });
    for (const hit of all) assert.doesNotMatch(hit.text, /SCRIPTTEXT|NAVLINK|FOOTERTEXT|color:red/);
  });

  const refusals: Array<[string, () => Promise<Upload>, number, RegExp]> = [
    ['a corrupt PDF', async () => ({ name: 'broken.pdf', content: '%PDF-1.7\nthis is not a PDF at all' }), 422, /not a readable PDF/],
    ['an encrypted PDF', async () => ({ name: 'locked.pdf', content: await makeEncryptedPdf() }), 422, /encrypted/],
    ['a scanned PDF without text', async () => ({ name: 'scan.pdf', content: await makeScannedPdf(2) }), 422, /text layer/],
    ['a PDF over the page limit', async () => ({ name: 'long.pdf', content: await makePdf(['1', '2', '3', '4', '5', '6']) }), 413, /6 pages; at most 5/],
    ['a DOCX zip bomb', async () => ({ name: 'bomb.docx', content: await makeDocx(['# A', 'b'], { entry: 'word/media/pad.bin', bytes: 30 * 1024 ** 2 }) }), 422, /zip bomb/],
    ['an image named .pdf', async () => ({ name: 'photo.pdf', content: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0]) }), 415, /PNG image/],
    ['text named .docx', async () => ({ name: 'fake.docx', content: 'just words' }), 415, /says docx but the content is text/],
    ['a binary file', async () => ({ name: 'blob.bin', content: new Uint8Array([1, 2, 0, 3, 255, 254]) }), 415, /binary/],
    ['a name with a path', async () => ({ name: '../../etc/passwd', content: 'root' }), 400, /path separator/],
    ['a name with control characters', async () => ({ name: 'evil\u0007.txt', content: 'bell' }), 400, /control characters/],
    ['a file over the size limit', async () => ({ name: 'big.txt', content: 'word '.repeat(50_000) }), 413, /larger than 200000 bytes/],
  ];

  for (const [what, make, status, reason] of refusals) {
    it(`refuses ${what} with ${status}, naming the file, and ingests nothing of the request`, async () => {
      const bad = await make();
      const before = await search(base, 'harmless companion file about otters', { filter: { file_id: 'companion.txt' } });
      assert.equal(before.length, 0);
      const reply = await upload(base, [{ name: 'companion.txt', content: 'A harmless companion file about otters.' }, bad]);
      assert.equal(reply.status, status, JSON.stringify(reply.body));
      assert.match(reply.type ?? '', /^application\/problem\+json/);
      assert.equal(reply.body.file, bad.name);
      assert.match(reply.body.reason, reason);
      assert.match(reply.body.detail, /nothing was ingested/);
      assert.deepEqual(await search(base, 'harmless companion file about otters', { filter: { file_id: 'companion.txt' } }), []);
    });
  }

  it('drops a NUL the store cannot hold from a file\'s text instead of refusing the file', async () => {
    const text = `# Notes\n\n${'Plain words fill the sniffed head of the file. '.repeat(200)}\n\nThe quartz\u0000 mine reopened in May.`;
    const reply = await upload(base, [{ name: 'quartz.md', content: Buffer.from(text) }]);
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
    const [hit] = await search(base, 'quartz mine reopened', { filter: { file_id: 'quartz.md' } });
    assert.match(hit?.text ?? '', /The quartz mine reopened in May\./);
  });

  it('leaves no staged upload behind', async () => {
    assert.deepEqual(await readdir(join(test.dataDir, 'jobs', 'uploads')), []);
  });

  it('refuses a request without files, and fields after files', async () => {
    const empty = await upload(base, [], { fields: { metadata: '{}' } });
    assert.equal(empty.status, 400);
    assert.match(empty.body.detail, /holds no file/);
    const form = new FormData();
    form.append('file', new Blob(['x']), 'a.txt');
    form.append('metadata', '{}');
    const late = await fetch(`${base}/v1/files`, { method: 'POST', body: form });
    assert.equal(late.status, 400);
    assert.match(((await late.json()) as any).detail, /comes after a file/);
  });
});
