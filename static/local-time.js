// Times in the reader's own time zone (issue 26: 8). The server writes each instant as
// <time datetime="…" data-t="datetime|date|time|seconds"> in the account's zone, or the
// organisation's (src/http/clock.ts); here, unless the account chose a zone (<html data-zone-fixed>),
// each is rewritten in the browser's zone, and the page's zone note names it. Elements that arrive
// later (an answer's message, a redrawn transcript) are rewritten as they come.
(() => {
  'use strict';
  const root = document.documentElement;
  if (root.hasAttribute('data-zone-fixed')) return;
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone) return;
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });

  /** The same text as the server's wallClock(), in the browser's zone. */
  function text(iso, style) {
    const at = new Date(iso);
    if (Number.isNaN(at.getTime())) return null;
    const p = {};
    for (const part of format.formatToParts(at)) p[part.type] = part.value;
    const date = `${p.year}-${p.month}-${p.day}`;
    const hm = `${p.hour}:${p.minute}`;
    if (style === 'date') return date;
    if (style === 'time') return hm;
    return style === 'seconds' ? `${date} ${hm}:${p.second}` : `${date} ${hm}`;
  }

  function rewrite(time) {
    const shown = text(time.getAttribute('datetime'), time.getAttribute('data-t'));
    if (shown !== null && time.textContent !== shown) time.textContent = shown;
  }

  function rewriteIn(node) {
    if (node.nodeType !== Node.ELEMENT_NODE) return;
    if (node.matches('time[data-t]')) rewrite(node);
    for (const time of node.querySelectorAll('time[data-t]')) rewrite(time);
  }

  function nameZone() {
    const note = document.querySelector('#zone-note [data-browser-note]');
    if (note) note.textContent = note.getAttribute('data-browser-note').replace('{zone}', zone);
  }

  function start() {
    rewriteIn(document.body);
    nameZone();
    new MutationObserver((changes) => {
      for (const change of changes) for (const node of change.addedNodes) rewriteIn(node);
    }).observe(document.body, { childList: true, subtree: true });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
