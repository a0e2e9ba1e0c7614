// The preset picker beside the composer, with JavaScript: the fill comes as JSON and is put in the
// message box or the system prompt in place, so a draft and attached files stay. Without this file
// the picker is a GET form whose answer is the page, filled (src/http/preset-pick.ts).
document.addEventListener('DOMContentLoaded', () => {
  const form = document.querySelector('.preset-form');
  const select = document.getElementById('preset');
  const note = document.getElementById('preset-note');
  if (!form || !select || !note || !window.fetch) return;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    let fill;
    try {
      const res = await fetch(`/presets/${encodeURIComponent(select.value)}/fill`, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
      if (!res.ok) throw new Error(String(res.status));
      fill = await res.json();
    } catch {
      form.submit(); // the page does it the plain way
      return;
    }
    const message = document.getElementById('message');
    const system = document.getElementById('system');
    if (typeof fill.draft === 'string' && message) {
      message.value = fill.draft;
      message.dispatchEvent(new Event('input', { bubbles: true })); // the estimate follows
      message.focus();
    }
    if (typeof fill.system === 'string' && system && !system.readOnly) {
      system.value = fill.system;
      const details = system.closest('details');
      if (details) details.open = true;
    }
    note.textContent = fill.note || '';
  });
});
