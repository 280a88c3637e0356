/** The part of fs-native-extensions (it ships no types) that the DATA_DIR lock and the tests' build lock use. */
declare module 'fs-native-extensions' {
  /** An exclusive lock on the open file `fd` (Linux: an open file description lock); false when another open file holds it. */
  export function tryLock(fd: number): boolean;
  /** The same lock, waited for (on a thread of libuv's pool) until the open file holding it lets it go. */
  export function waitForLock(fd: number): Promise<void>;
}
