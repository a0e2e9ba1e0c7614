// Small progressive enhancements; every page works without this file.
document.addEventListener('DOMContentLoaded', () => {
  // After a failed form submission, put the cursor in the first field that needs fixing.
  const invalid = document.querySelector('[aria-invalid="true"]');
  if (invalid) invalid.focus();

  const toggle = document.getElementById('drawer-toggle');
  const sidebar = document.getElementById('sidebar');
  if (toggle && sidebar) enhanceDrawer(toggle, sidebar);

  const composer = document.getElementById('composer');
  const message = document.getElementById('message');
  if (composer && message) enhanceComposer(composer, message);
  const model = document.getElementById('model');
  const price = document.getElementById('model-price');
  if (model && price) model.addEventListener('change', () => (price.textContent = model.selectedOptions[0]?.dataset.price ?? ''));
  const estimate = document.getElementById('estimate');
  if (composer && message && estimate) keepEstimateTrue(composer, message, estimate);
  const rosterFile = document.getElementById('roster-file');
  const rosterText = document.getElementById('roster-text');
  if (rosterFile && rosterText && typeof File !== 'undefined' && File.prototype.text) readRosterFile(rosterFile, rosterText);
  const transcript = document.getElementById('transcript');
  const jump = document.getElementById('jump-latest');
  if (transcript && jump) followTranscript(transcript, jump);

  // The dashboard redraws itself every 30 s, the conversation list when an answer starts and ends:
  // whatever had focus inside them gets it back.
  keepFocusAcrossSwaps('dashboard');
  keepFocusAcrossSwaps('conversation-list');

  // Copy a whole answer (its markdown, as written): the buttons appear only where they work.
  const copyable = () => { if (navigator.clipboard) for (const b of document.querySelectorAll('.copy-answer[hidden]')) b.hidden = false; };
  copyable();
  document.addEventListener('htmx:after:swap', copyable);
  document.addEventListener('htmx:after:settle', copyable);
  document.addEventListener('click', (event) => {
    const button = event.target.closest && event.target.closest('.copy-answer');
    if (!button || !navigator.clipboard) return;
    copied(button, button.dataset.copyText);
  });

  // Copy buttons on code blocks in rendered answers.
  document.addEventListener('click', (event) => {
    const button = event.target.closest && event.target.closest('[data-copy]');
    if (!button) return;
    const code = button.closest('.code-block')?.querySelector('pre code');
    if (!code || !navigator.clipboard) return;
    copied(button, code.textContent);
  });
});

/** Copies `text` and says so on the button for a moment (its own label kept, however often it is pressed). */
function copied(button, text) {
  button.dataset.label ??= button.textContent;
  navigator.clipboard.writeText(text).then(
    () => {
      button.textContent = document.documentElement.lang === 'zh-CN' ? '已复制' : 'Copied';
      // Where a status region is named, a screen reader hears it too.
      const status = button.dataset.copiedStatus && document.getElementById(button.dataset.copiedStatus);
      if (status) status.textContent = button.textContent;
      clearTimeout(button.copiedTimer);
      button.copiedTimer = setTimeout(() => (button.textContent = button.dataset.label), 1500);
    },
    () => {}, // refused (no permission): the button stays as it was
  );
}

/** Refocuses, after htmx redraws the element `id`, the control that had focus inside it (by id, else by its link). */
function keepFocusAcrossSwaps(id) {
  let again = null;
  document.addEventListener('htmx:before:swap', () => {
    const active = document.activeElement;
    const region = document.getElementById(id);
    again = null;
    if (!region || !active || active === document.body || !region.contains(active)) return;
    if (active.id) again = '#' + CSS.escape(active.id);
    else if (active.getAttribute('href')) again = `#${id} [href="${CSS.escape(active.getAttribute('href'))}"]`;
  });
  // Once the old content is gone (after the swap settles), unless focus went somewhere meanwhile.
  const restore = () => {
    if (!again) return;
    const target = document.querySelector(again);
    const active = document.activeElement;
    if (target && (!active || active === document.body || !document.contains(active))) target.focus();
    if (target) again = null;
  };
  document.addEventListener('htmx:after:swap', () => setTimeout(restore));
  document.addEventListener('htmx:after:settle', restore);
}

// While an answer grows, the view stays at the bottom if the reader is there; a reader who
// scrolled up to read is left alone, and offered a button back to the latest text.
function followTranscript(transcript, jump) {
  const atBottom = () => window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 48;
  let following = atBottom();
  let lastY = window.scrollY;
  const toBottom = () => window.scrollTo({ top: document.documentElement.scrollHeight });
  // A conversation opens at its latest message, as chat apps do, not under the sticky composer that
  // would otherwise cover its end and its Answer again (a link to one message, #m<id>, keeps its place).
  if (!location.hash && transcript.querySelector('.msg')) {
    toBottom();
    following = true;
    window.addEventListener('load', () => following && toBottom(), { once: true }); // images and fonts made it taller
  }
  window.addEventListener('scroll', () => {
    // A move up is the reader's (a slow touch drag too): stop following until they are back at the
    // bottom. Not when the page only got shorter (the textbox emptied, the examples went, a
    // re-render): the browser moved the view up to the new bottom, where the reader still is.
    const y = window.scrollY;
    if (y < lastY && !atBottom()) following = false;
    else if (atBottom()) {
      following = true;
      jump.hidden = true;
    }
    lastY = y;
  }, { passive: true });
  new MutationObserver(() => {
    if (following) toBottom();
    // The way back shows once text comes below the reader, and only while there is something below.
    const streaming = transcript.querySelector('.msg-body.streaming') !== null;
    jump.hidden = following || atBottom() || (jump.hidden && !streaming);
  }).observe(transcript, { childList: true, subtree: true, characterData: true });
  jump.addEventListener('click', () => {
    following = true;
    jump.hidden = true;
    toBottom();
    document.getElementById('message')?.focus({ preventScroll: true });
  });
}

// On a phone the conversations are a drawer opened from the chat's header (CSS shows the button
// only there); without JavaScript they stay under the conversation.
function enhanceDrawer(toggle, sidebar) {
  document.documentElement.classList.add('has-drawer');
  const close = sidebar.querySelector('[data-drawer-close]');
  toggle.hidden = false;
  if (close) close.hidden = false;
  const setOpen = (open) => {
    sidebar.classList.toggle('open', open);
    toggle.setAttribute('aria-expanded', String(open));
    if (open) sidebar.querySelector('a, button:not([hidden]), input')?.focus();
    else toggle.focus();
  };
  toggle.addEventListener('click', () => setOpen(!sidebar.classList.contains('open')));
  close?.addEventListener('click', () => setOpen(false));
  document.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape' || !sidebar.classList.contains('open')) return;
    event.preventDefault(); // this Esc closes the drawer, and stops nothing else (an answer being written)
    setOpen(false);
  });
}

// A message's own forms (‹ ›, Edit, Answer again) are plain forms in the transcript. Their answer
// redraws the transcript, and a streamed answer stops where the element that asked for it is
// removed: so with JavaScript their fields are sent from a form of the page outside it (#relay-*,
// the page's own htmx forms), the answer streaming as the composer's does.
document.addEventListener('submit', (event) => {
  const form = event.target;
  const relay = form.dataset && form.dataset.relay ? document.getElementById(`relay-${form.dataset.relay}`) : null;
  if (!relay || !form.closest('#transcript')) return;
  event.preventDefault();
  const fields = [];
  for (const [name, value] of new FormData(form, event.submitter)) {
    const input = document.createElement('input');
    Object.assign(input, { type: 'hidden', name, value });
    fields.push(input);
  }
  relay.replaceChildren(...fields);
  if (form.dataset.relay === 'version') keepVersionFocus(form, event.submitter);
  relay.requestSubmit();
});

// ‹ › redraws the whole transcript, and focus would fall to <body> (WCAG 2.4.3): once the new one
// is in, the same control has it again, found by its place in the thread (data-slot, the message's
// parent) and its direction; the other arrow when that one is now disabled (at the first or last).
let versionFocus = null;
function keepVersionFocus(form, button) {
  versionFocus = button && button.dataset.dir ? { slot: form.dataset.slot, dir: button.dataset.dir } : null;
}
function restoreVersionFocus() {
  if (!versionFocus) return;
  const group = document.querySelector(`#transcript form.versions[data-slot="${CSS.escape(versionFocus.slot)}"]`);
  if (!group) return;
  const same = group.querySelector(`button[data-dir="${versionFocus.dir}"]`);
  const target = same && !same.disabled ? same : group.querySelector('button[data-dir]:not(:disabled)');
  const active = document.activeElement;
  if (target && (!active || active === document.body || !document.contains(active))) {
    target.focus();
    versionFocus = null;
  }
}
document.addEventListener('htmx:after:swap', () => setTimeout(restoreVersionFocus));
document.addEventListener('htmx:after:settle', restoreVersionFocus);

function enhanceComposer(composer, message) {
  // Where the composer is sticky it covers the bottom of the page: whatever gets focus is scrolled
  // into view above it, never under it (WCAG 2.2 2.4.11). app.css has a fallback without this.
  const padBelow = () => {
    const sticky = getComputedStyle(composer).position === 'sticky';
    document.documentElement.style.scrollPaddingBottom = sticky ? `${Math.ceil(composer.getBoundingClientRect().height) + 16}px` : '';
  };
  padBelow();
  if (window.ResizeObserver) new ResizeObserver(padBelow).observe(composer);
  window.addEventListener('resize', padBelow);

  // Enter sends, Shift+Enter adds a line. While an IME is composing (typing Chinese), Enter
  // confirms the candidate and must never send: isComposing, and keyCode 229 for Safari.
  // On a phone's keyboard Enter adds a line, as people expect there: they send with the button.
  const touch = window.matchMedia('(pointer: coarse)').matches;
  message.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' || event.shiftKey || touch || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    if (message.value.trim() !== '') composer.requestSubmit(document.getElementById('submit'));
  });

  // Esc stops the answer being written (as the Stop button does), unless something else takes it (the drawer).
  document.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape' || event.defaultPrevented || document.querySelector('.sidebar.open')) return;
    if (!document.querySelector('#transcript .msg-body.streaming')) return;
    event.preventDefault();
    document.getElementById('stop')?.click();
  });

  // Example prompts: with JavaScript, fill the textbox and send it like a typed message.
  composer.addEventListener('click', (event) => {
    const example = event.target.closest && event.target.closest('button.example');
    if (!example) return;
    event.preventDefault();
    message.value = example.value;
    composer.requestSubmit(document.getElementById('submit'));
  });

  // Once the answer starts streaming the message is stored: empty the textbox, scroll to it, and
  // give a new conversation its address.
  // The event comes from the form whose request started the turn: a message's own Edit or Answer
  // again (sent from a #relay-* form) leaves the textbox's draft alone.
  document.body.addEventListener('tokenchat:turn-started', (event) => {
    if (composer.contains(event.target)) message.value = '';
    for (const done of document.querySelectorAll('#empty, #composer .examples')) done.remove();
    for (const action of composer.querySelectorAll('[data-after-first]')) action.hidden = false;
    const id = event.detail && event.detail.data;
    if (id && !location.pathname.startsWith('/c/')) history.replaceState(null, '', '/c/' + id);
    // The tab's title follows the conversation's, as the page's own does after a reload.
    const title = document.getElementById('chat-title')?.textContent?.trim();
    if (title) document.title = `${title} · ${document.title.split(' · ').pop()}`;
    // Follow the answer from here: at the bottom of the page the composer sits after the transcript, covering none of it.
    window.scrollTo({ top: document.documentElement.scrollHeight });
  });
  document.body.addEventListener('tokenchat:turn-settled', () => message.focus());

  // Undo gives the question back, as Gradio does: the transcript it answers with carries it.
  document.addEventListener('htmx:after:swap', () => {
    const undone = document.getElementById('undone');
    if (!undone) return;
    message.value = undone.dataset.text;
    undone.remove();
    message.focus();
  });
}

// The estimate speaks of the text in the box: it goes when the box is emptied or its message sent
// (the server's start of the answer clears it too), and one that comes back after that is dropped.
function keepEstimateTrue(composer, message, estimate) {
  const clear = () => estimate.replaceChildren();
  message.addEventListener('input', () => message.value.trim() === '' && clear());
  document.body.addEventListener('tokenchat:turn-started', (event) => composer.contains(event.target) && clear());
  estimate.addEventListener('htmx:before:swap', (event) => {
    if (event.target === estimate && message.value.trim() === '') event.preventDefault();
  });
}

// A roster import's CSV chosen as a file is read into the box it would be pasted in (UTF-8, a byte
// order mark dropped), so the admin sees and checks exactly what is sent.
function readRosterFile(input, box) {
  document.getElementById('roster-file-field').hidden = false;
  input.addEventListener('change', async () => {
    const file = input.files && input.files[0];
    if (!file) return;
    box.value = (await file.text()).replace(/^\uFEFF/, '');
    box.focus();
  });
}
