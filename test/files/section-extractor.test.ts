import assert from 'node:assert/strict';
import { writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileRejectedError } from '../../src/files/file-problems.js';
import { sectionExtractor, type SectionExtractor } from '../../src/files/section-extractor.js';
import { makePdf, makeScannedPdf } from '../support/documents.js';
import { temporaryDir } from '../support/test-app.js';

describe('text extraction on worker threads', () => {
  let dir: string;
  let onWorkers: SectionExtractor;
  const onMain = sectionExtractor(0);
  before(async () => {
    dir = await temporaryDir('rag-extract-');
    await writeFile(join(dir, 'report.pdf'), await makePdf(['First page about harbours.', 'Second page about lighthouses.']));
    await writeFile(join(dir, 'scan.pdf'), await makeScannedPdf(1));
    await writeFile(join(dir, 'notes.md'), '# Tides\n\nThe tide turns twice a day.\n\n## Moon\n\nThe moon pulls the sea.\n');
    onWorkers = sectionExtractor(1);
  });
  after(async () => {
    await onWorkers.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('gives the sections the main thread gives, pages and headings kept', async () => {
    const pdf = await onWorkers.extract('report.pdf', 'pdf', join(dir, 'report.pdf'), { maxPages: 10 });
    assert.deepEqual(pdf, await onMain.extract('report.pdf', 'pdf', join(dir, 'report.pdf'), { maxPages: 10 }));
    assert.deepEqual(pdf.map((section) => [section.page, section.text]), [[1, 'First page about harbours.'], [2, 'Second page about lighthouses.']]);
    const markdown = await onWorkers.extract('notes.md', 'markdown', join(dir, 'notes.md'), { maxPages: 10 });
    assert.deepEqual(markdown.map((section) => section.heading), ['Tides', 'Moon']);
  });

  it('a refused file comes back as the FileRejectedError the main thread would throw', async () => {
    const refusal = (extractor: SectionExtractor, maxPages: number, file = 'scan.pdf') =>
      extractor.extract(file, 'pdf', join(dir, file), { maxPages }).then(
        () => assert.fail('the file was read'),
        (error: unknown) => {
          assert.ok(error instanceof FileRejectedError);
          return [error.status, error.filename, error.reason];
        },
      );
    assert.deepEqual(await refusal(onWorkers, 10), await refusal(onMain, 10));
    assert.equal((await refusal(onWorkers, 10))[0], 422);
    const tooLong = await refusal(onWorkers, 1, 'report.pdf');
    assert.deepEqual(tooLong.slice(0, 2), [413, 'report.pdf']);
  });
});
