// Attaching files on the chat page with JavaScript: a file chosen, pasted into the textbox or
// dropped on the composer is sent at once to POST /attachments, whose answer (the chips, or why a
// file was refused) replaces the list; the estimate is asked again with the files. Without
// JavaScript the Attach button does the same with a page load. Sending clears the chips.
(() => {
  'use strict';
  const composer = document.getElementById('composer');
  const input = document.getElementById('file');
  const zone = document.getElementById('attach-zone');
  if (!composer || !input || !zone) return;
  document.getElementById('attach').hidden = true;
  // Sent by upload() only: htmx would put the chosen file in every form it sends (the estimate, the send) as text.
  input.removeAttribute('name');
  for (const hint of zone.querySelectorAll('.attach-js-hint')) hint.hidden = false;
  const csrf = () => composer.querySelector('input[name="_csrf"]').value;
  const list = () => document.getElementById('attachments');
  const status = document.getElementById('turn-status');

  async function post(body) {
    body.append('_csrf', csrf());
    for (const chip of list().querySelectorAll('input[name="attachment"]')) body.append('attachment', chip.value);
    if (status) status.textContent = zone.dataset.uploading || '';
    try {
      const res = await fetch('/attachments', { method: 'POST', body, headers: { 'HX-Request': 'true' }, credentials: 'same-origin' });
      const html = await res.text();
      const fresh = new DOMParser().parseFromString(html, 'text/html').getElementById('attachments');
      if (fresh) list().replaceWith(fresh);
      else if (status) status.textContent = res.statusText;
    } finally {
      if (status && status.textContent === (zone.dataset.uploading || '')) status.textContent = '';
      document.body.dispatchEvent(new CustomEvent('tokenchat:attached', { bubbles: true }));
    }
  }

  function upload(files) {
    if (!files || files.length === 0) return;
    const body = new FormData();
    for (const file of files) body.append('file', file, file.name || 'pasted.png');
    void post(body).then(() => (input.value = ''));
  }

  input.addEventListener('change', () => upload(input.files));
  document.getElementById('message')?.addEventListener('paste', (event) => {
    const files = event.clipboardData?.files;
    if (files && files.length > 0) {
      event.preventDefault();
      upload(files);
    }
  });
  composer.addEventListener('dragover', (event) => {
    if (event.dataTransfer?.types.includes('Files')) event.preventDefault();
  });
  composer.addEventListener('drop', (event) => {
    if (!event.dataTransfer?.files.length) return;
    event.preventDefault();
    upload(event.dataTransfer.files);
  });
  // A chip's Remove: the file is removed on the server and the list comes back without it.
  composer.addEventListener('click', (event) => {
    const button = event.target.closest('button[name="remove_attachment"]');
    if (!button) return;
    event.preventDefault();
    button.closest('li')?.remove();
    const body = new FormData();
    body.append('remove_attachment', button.value);
    void post(body);
  }, true);
  // Sent: the files went with the question.
  document.body.addEventListener('tokenchat:turn-started', () => {
    const current = list();
    if (current) current.replaceChildren();
  });
})();
