/** The collection the page works on, shared by the views; `default` as in the API. */
let current = 'default';
const listeners = new Set<(collection: string) => void>();

export const collection = {
  get: (): string => current,
  set(name: string): void {
    if (name === current) return;
    current = name;
    for (const listener of listeners) listener(name);
  },
  onChange: (listener: (collection: string) => void): void => void listeners.add(listener),
};
