export interface NormalizedBaseUrl {
  url: string;
  /** Set when the given URL had no /v1 path and one was appended, as the Python client does. */
  warning: string | undefined;
}

/**
 * Normalises a NIM base URL the way langchain-nvidia-ai-endpoints does: trailing slashes are
 * dropped and a URL whose path does not end in /v1 gets /v1 appended, with a warning, so that
 * `http://nim:8000` and `http://nim:8000/v1/` both reach `http://nim:8000/v1/embeddings`.
 */
export function normalizeBaseUrl(raw: string): NormalizedBaseUrl {
  const parsed = new URL(raw.trim());
  parsed.search = '';
  parsed.hash = '';
  const path = parsed.pathname.replace(/\/+$/, '');
  if (/\/v1$/.test(path)) {
    parsed.pathname = path;
    return { url: parsed.toString().replace(/\/+$/, ''), warning: undefined };
  }
  parsed.pathname = `${path}/v1`;
  const url = parsed.toString();
  return { url, warning: `NIM base URL ${raw} has no /v1 path; using ${url}` };
}
