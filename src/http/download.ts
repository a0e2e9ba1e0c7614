// Downloads: a Content-Disposition whose filename survives any title. Browsers take the RFC 5987
// `filename*` (UTF-8, so a Chinese title stays Chinese); the plain `filename` is an ASCII fallback
// for the rest. Neither may carry a path, quote, control character or header break.

/** The header value for a download named `base` + `ext` (".md"); `fallback` is an ASCII base. */
export function attachment(base: string, ext: string, fallback: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what must go
  const cleaned = base.replace(/[\u0000-\u001f\u007f"\\/:*?<>|]+/g, ' ').replace(/\s+/g, ' ').trim();
  const safe = `${[...cleaned].slice(0, 100).join('').trim() || fallback}${ext}`;
  const ascii = `${fallback.replace(/[^\x20-\x7e]|["\\]/g, '_')}${ext}`;
  const encoded = encodeURIComponent(safe).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
