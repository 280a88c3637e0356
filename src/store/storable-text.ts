/** A UTF-16 surrogate without its pair. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

/**
 * Why a string cannot be stored, or undefined when it can. Postgres' `text` and `jsonb` hold
 * neither U+0000 nor a lone surrogate (not a Unicode character: it would come back as U+FFFD, or
 * fail the statement), so both backends refuse them and behave the same.
 */
export function unstorable(text: string): string | undefined {
  const nul = text.indexOf('\u0000');
  if (nul >= 0) return `contains U+0000 (NUL) at character ${nul}`;
  const lone = LONE_SURROGATE.exec(text);
  if (!lone) return undefined;
  return `contains a lone surrogate (\\u${lone[0].charCodeAt(0).toString(16)}) at character ${lone.index}, which is not Unicode text`;
}

/** Text extracted from a file, made storable: NULs dropped, lone surrogates replaced by U+FFFD. */
export function storable(text: string): string {
  return text.replaceAll('\u0000', '').replace(LONE_SURROGATES, '\ufffd');
}
