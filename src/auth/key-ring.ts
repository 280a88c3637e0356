import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import type { BaseLogger } from 'pino';
import { type KeyEntry, KeyFileError, parseKeyFile, sha256 } from './key-file.js';
import { type Principal, SCOPES } from './principal.js';

export interface KeyRingOptions {
  /** Keys with full access (API_KEYS). */
  apiKeys: string[];
  /** The keys file (API_KEYS_FILE); undefined: none. */
  file: string | undefined;
  /** The window of a key's rate_limit that gives none of its own (RATE_LIMIT_WINDOW_MS). */
  defaultWindowMs: number;
  logger: Pick<BaseLogger, 'info' | 'warn' | 'error'>;
}

/** Events on the file's folder that come together (an editor's write and rename) cause one reload. */
const SETTLE_MS = 20;

/**
 * The keys the service accepts, held as SHA-256 digests: API_KEYS with full access, and those of
 * the keys file, which is read again on SIGHUP and whenever its folder changes (editors and
 * Kubernetes replace files by renaming, so the folder is watched, not the file). A file that
 * cannot be used at start is an error; on a reload it is logged and the keys loaded before stay.
 */
export class KeyRing {
  private fileKeys: KeyEntry[] = [];
  private loadedText: string | undefined;
  /** The last text refused on a reload, so that later folder events over the same bad file do not log it again. */
  private refusedText: string | undefined;
  private watcher: FSWatcher | undefined;
  private settle: NodeJS.Timeout | undefined;
  private reloading: Promise<void> = Promise.resolve();
  private readonly onHangup = () => void this.reload('SIGHUP');
  private readonly fullAccess: KeyEntry[];

  private constructor(private readonly options: KeyRingOptions) {
    this.fullAccess = options.apiKeys.map((key) => {
      const digest = sha256(key);
      return { digest, principal: { name: `api-key-${digest.toString('hex').slice(0, 12)}`, scopes: SCOPES, collections: ['*'] } };
    });
  }

  static async open(options: KeyRingOptions): Promise<KeyRing> {
    const ring = new KeyRing(options);
    const { file } = options;
    if (file === undefined) return ring;
    const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new KeyFileError(file, [`cannot be read (${error.code ?? error.message})`]);
    });
    ring.fileKeys = parseKeyFile(file, text, options.defaultWindowMs);
    ring.loadedText = text;
    ring.watcher = watch(dirname(file), { persistent: false }, () => ring.changed());
    ring.watcher.on('error', (error) => options.logger.warn({ err: error, file }, 'API_KEYS_FILE: its folder can no longer be watched; send SIGHUP to reload it'));
    process.on('SIGHUP', ring.onHangup);
    options.logger.info({ file, keys: ring.fileKeys.map((entry) => entry.principal.name) }, 'API_KEYS_FILE loaded');
    return ring;
  }

  /** Whether any key is configured: then every request outside PUBLIC_PATHS needs one. */
  get enabled(): boolean {
    return this.options.file !== undefined || this.fullAccess.length > 0;
  }

  /**
   * The principal of a presented key, or undefined. Every key is compared, as digests of equal
   * length with timingSafeEqual, so neither a key's content nor which one matched shows in the time.
   */
  identify(token: string): Principal | undefined {
    const presented = sha256(token);
    let found: Principal | undefined;
    for (const entry of this.fullAccess) if (timingSafeEqual(presented, entry.digest)) found = entry.principal;
    for (const entry of this.fileKeys) if (timingSafeEqual(presented, entry.digest)) found = entry.principal;
    return found;
  }

  /** Reads the keys file again; a file that cannot be used is logged and the current keys stay. */
  reload(reason: string): Promise<void> {
    this.reloading = this.reloading.then(() => this.readAgain(reason));
    return this.reloading;
  }

  close(): void {
    clearTimeout(this.settle);
    this.watcher?.close();
    process.off('SIGHUP', this.onHangup);
  }

  private changed(): void {
    clearTimeout(this.settle);
    this.settle = setTimeout(() => void this.reload('file changed'), SETTLE_MS);
  }

  private async readAgain(reason: string): Promise<void> {
    const file = this.options.file as string;
    const { logger } = this.options;
    const kept = this.fileKeys.map((entry) => entry.principal.name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      logger.error({ file, reason, kept }, `API_KEYS_FILE not reloaded, keeping the keys loaded before: cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
      return;
    }
    // The folder also changes for files beside it, and an editor's save can come as several events.
    if (text === this.loadedText || (text === this.refusedText && reason !== 'SIGHUP')) return;
    try {
      this.fileKeys = parseKeyFile(file, text, this.options.defaultWindowMs);
      this.loadedText = text;
      this.refusedText = undefined;
      logger.info({ file, reason, keys: this.fileKeys.map((entry) => entry.principal.name) }, 'API_KEYS_FILE reloaded');
    } catch (error) {
      const problems = error instanceof KeyFileError ? error.problems : [String(error)];
      this.refusedText = text;
      logger.error({ file, reason, kept, problems }, `API_KEYS_FILE not reloaded, keeping the keys loaded before: ${problems.join('; ')}`);
    }
  }
}
