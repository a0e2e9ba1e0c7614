// Formulas, code and tables wider than the page scroll sideways in their own box. A keyboard user
// reaches such a box with Tab to scroll it (WCAG 2.1.1), so each box that overflows now is made
// focusable, and one that no longer does is made plain again. Recent Chromium does this by itself;
// other browsers do not. Answers re-render as they stream, so this runs after every swap.
(() => {
  const BOXES = '.katex math, .math-display, .code-block pre, .table-wrap';
  let queued = false;
  const mark = () => {
    queued = false;
    for (const box of document.querySelectorAll(BOXES)) {
      const overflows = box.scrollWidth > box.clientWidth + 1;
      if (overflows && !box.hasAttribute('tabindex')) {
        box.setAttribute('tabindex', '0');
        box.dataset.scrollBox = '';
      } else if (!overflows && 'scrollBox' in box.dataset) {
        box.removeAttribute('tabindex');
        delete box.dataset.scrollBox;
      }
    }
  };
  const soon = () => {
    if (!queued) requestAnimationFrame(mark);
    queued = true;
  };
  document.addEventListener('DOMContentLoaded', soon);
  document.addEventListener('htmx:after:settle', soon);
  document.addEventListener('htmx:after:swap', soon);
  window.addEventListener('resize', soon);
})();
