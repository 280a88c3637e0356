/**
 * Builds elements with text set through textContent only: nothing from the corpus or the API is
 * ever parsed as HTML, so a document holding markup shows as its characters.
 */
type Child = Node | string | null | undefined | false;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<Record<string, string | number | boolean>> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === false) continue;
    if (name === 'text') element.textContent = String(value);
    else if (name === 'class') element.className = String(value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) if (child) element.append(child);
  return element;
}

export function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

/** Shows a message in a live region (role=status or role=alert), replacing the previous one. */
export function say(region: HTMLElement, message: string, kind: 'info' | 'error' = 'info'): void {
  region.textContent = message;
  region.dataset.kind = kind;
}

export const formatScore = (score: number): string => score.toFixed(3);
