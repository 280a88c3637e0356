/** The part of fs-native-extensions (it ships no types) that the DATA_DIR lock uses. */
declare module 'fs-native-extensions' {
  /** An exclusive lock on the open file `fd` (Linux: an open file description lock); false when another open file holds it. */
  export function tryLock(fd: number): boolean;
}
