// An answer streaming (src/http/markdown-stream.ts, answer-writer.ts): the pieces sent between two
// renders go where the answer goes on, so text written in a code fence still open stays in its code
// block instead of jumping below it until the next render (issue 26).
import { renderMarkdown, renderStreaming } from '../src/http/markdown';
import { AnswerWriter } from '../src/http/answer-writer';

const render = (text: string) => renderStreaming(text, { copyLabel: 'Copy', tail: 'm7-tail' });
const TAIL = '<span id="m7-tail"></span>';

describe('renderStreaming — where the answer goes on', () => {
  test('in a code fence still open: at the end of its code', () => {
    const { html, tail } = render('Try this:\n\n```python\nfor i in range(3):\n    print(i)\n');
    expect(tail).toBe(true);
    expect(html).toMatch(new RegExp(`<pre><code class="hljs language-python">[\\s\\S]*print[\\s\\S]*\\n${TAIL}</code></pre>`));
  });

  test('a fence in a quote or a list item, still open, too; a longer fence is not closed by a shorter run', () => {
    expect(render('> ```\n> code').html).toContain(`code${TAIL}</code>`);
    expect(render('- item\n\n  ```js\n  x = 1').html).toContain(`x = <span class="hljs-number">1</span>${TAIL}</code>`);
    expect(render('````\n```\nstill code').html).toContain(`still code${TAIL}</code>`);
  });

  test('after a closed fence, a table or a blank line: nowhere (the pieces start a new block)', () => {
    for (const text of ['```\ncode\n```', '```\ncode\n```\n', '| a | b |\n|---|---|\n| 1 | 2', 'Para.\n\n', '---']) {
      const { html, tail } = render(text);
      expect(tail).toBe(false);
      expect(html).not.toContain('id=');
      expect(html).toBe(renderMarkdown(text));
    }
  });

  test('in a paragraph, a heading or a list item: at the end of its text, after a line break already written', () => {
    expect(render('Hello wor').html).toBe(`<p>Hello wor${TAIL}</p>\n`);
    expect(render('Hello\n').html).toBe(`<p>Hello<br>${TAIL}</p>\n`);
    expect(render('## Tit').html).toBe(`<h2>Tit${TAIL}</h2>\n`);
    expect(render('## Title\n').tail).toBe(false);
    expect(render('- one\n- tw').html).toContain(`<li>tw${TAIL}</li>`);
  });

  test('the render for a finished message has no tail; every prefix of an answer renders without throwing', () => {
    const answer = 'Intro $x$\n\n```ts\nconst a = 1;\n```\n\n$$\n\\frac{1}{2}\n$$\n\n| a |\n|---|\n| 1 |\n\n- item `c`\n';
    for (let i = 0; i <= answer.length; i++) {
      const prefix = answer.slice(0, i);
      const { html } = render(prefix);
      expect(html.split(TAIL).length).toBeLessThanOrEqual(2);
      expect(renderMarkdown(prefix)).not.toContain('id=');
    }
  });
});

describe('AnswerWriter — pieces between renders', () => {
  function writer() {
    const frames: string[] = [];
    const w = new AnswerWriter({ open: true, html: (h: string) => frames.push(h) }, 7, 'Copy');
    return { w, frames };
  }
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test('a piece after a render that left a fence open goes into its code; after the fence closes, below it', () => {
    const { w, frames } = writer();
    w.reset('```js\nconst a');
    expect(frames.at(-1)).toContain(TAIL);
    w.piece(' = 1;\n');
    expect(frames.at(-1)).toBe('<hx-partial hx-target="#m7-tail" hx-swap="beforeend"> = 1;\n</hx-partial>');
    jest.advanceTimersByTime(300); // the trailing render
    w.piece('```\n');
    jest.advanceTimersByTime(300);
    expect(frames.at(-1)).not.toContain(TAIL);
    w.piece('Done');
    expect(frames.at(-1)).toBe('<hx-partial hx-target="#m7-text" hx-swap="beforeend">Done</hx-partial>');
  });

  test('a page joining gets the answer so far; when the tail moved since the last render, every page gets it', () => {
    const { w, frames } = writer();
    const joiner: string[] = [];
    w.started('```\ncode'); // shown as it was stored, not rendered here: no tail known
    w.joined((f) => joiner.push(f));
    expect(joiner).toEqual([]);
    expect(frames).toHaveLength(1); // every page, the joiner included, has the tail now
    expect(frames[0]).toContain(`code${TAIL}</code>`);
    w.joined((f) => joiner.push(f)); // nothing moved: the joiner alone
    expect(joiner).toEqual(frames);
    expect(frames).toHaveLength(1);
  });
});
