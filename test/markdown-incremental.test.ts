// A streaming answer rendered from where its finished blocks end (src/http/markdown-incremental.ts)
// shows exactly what rendering it whole shows, at every point it can be cut into pieces (issue 29).
import { renderStreaming } from '../src/http/markdown';
import { StreamingMarkdown } from '../src/http/markdown-incremental';
import { AnswerWriter } from '../src/http/answer-writer';

const OPTS = { copyLabel: 'Copy', tail: 'm7-tail' };

const ANSWERS: Record<string, string> = {
  'a fence opened and closed across pieces, then prose': 'Try this:\n\n```python\nfor i in range(3):\n    print("<b>", i)\n```\n\nAnd then ~~~ this:\n\n````\n```\nstill code\n````\nDone.',
  'lists: tight, loose, ordered from 3, nested, interrupted': '- one\n- two\n\n- three, loose now\n  - nested\n\n3. three\n4. four\nText after.\n\n1) a\n# Heading\n- x\n---\n* y\n',
  'a table that starts as a paragraph': 'Costs:\n\n| model | rate |\n| --- | ---: |\n| demo | 1 |\n| <i>big</i> | 3 |\n\nAfter the table.\nSetext\n===\n\nAnother\n---\n',
  'math inline and displayed, an open $$ block, dollars in prose': 'It costs $5 and $10.\n\nInline $x^2 + y$ and \\(a_i\\).\n\n$$\n\\sum_{i=1}^{n} t_i \\le h\n$$\n\n\\[\n\\frac{1}{2}\n\\]\nThen $$\\int x$$ done.\n\n$$\n\\alpha',
  'text that looks like HTML stays escaped': '<script>alert(1)</script>\n\n<div hx-get="/x" onclick="y()">a</div>\n\n> <img src=x onerror=alert(1)>\n> quoted\nlazy\n\n    <indented code>\n\n    more & more\n\nEnd <b>not bold</b> &amp; [link](javascript:alert(1)) https://example.com',
  'quotes, rules, headings, CRLF and lone CR line breaks': '> a quote\n> goes on\n\n***\n## Title ##\r\nText\r\n\r\n- item\rnext\r\r```js\r\nlet x = 1;\r\n```\r\n',
  'a link reference defined below its use': 'See [the docs][d] and [x].\n\nMore text.\n\n[d]: https://example.com/docs\n\nAnd [d] again.\n\n[x]: https://example.com/x "t"\n',
};

/** Renders `text` growing `step` characters at a time, both ways, and compares every render. */
function compareGrowing(text: string, step: number): void {
  const streaming = new StreamingMarkdown(OPTS);
  for (let end = step; end < text.length + step; end += step) {
    const prefix = text.slice(0, end);
    expect({ end, ...streaming.render(prefix) }).toEqual({ end, ...renderStreaming(prefix, OPTS) });
  }
}

describe('StreamingMarkdown — the same HTML as a whole render', () => {
  for (const [name, text] of Object.entries(ANSWERS)) {
    test(`${name}: one character at a time, and in pieces of 3 and 17`, () => {
      for (const step of [1, 3, 17]) compareGrowing(text, step);
    });
  }

  test('all of them in one answer, in pieces of 5, rendered twice at each point (a page joining)', () => {
    const text = Object.values(ANSWERS).filter((a) => !a.includes('[d]:')).join('\n\n');
    const streaming = new StreamingMarkdown(OPTS);
    for (let end = 5; end < text.length + 5; end += 5) {
      const whole = renderStreaming(text.slice(0, end), OPTS);
      expect(streaming.render(text.slice(0, end))).toEqual(whole);
      expect(streaming.render(text.slice(0, end))).toEqual(whole);
    }
  });

  test('answers put together at random from awkward pieces, cut at random (seeded)', () => {
    const bits = ['\n', '\n\n', '- ', '1. ', '  ', '    ', '> ', '```', '~~~', '$$', '$', '|', ' --- ', '---', '===', '# ', '*', '_', '`', '[a]', '(b)', '\\(', '\\)', '<b>', '&amp;', 'text', ' x^2 ', '\r\n', '\t', ':'];
    let seed = 29;
    const random = (n: number) => ((seed = (seed * 48_271) % 2_147_483_647) % n);
    for (let doc = 0; doc < 40; doc++) {
      const text = Array.from({ length: 60 }, () => bits[random(bits.length)]).join('');
      const streaming = new StreamingMarkdown(OPTS);
      for (let end = 0; end < text.length;) {
        end = Math.min(text.length, end + 1 + random(12));
        expect(streaming.render(text.slice(0, end))).toEqual(renderStreaming(text.slice(0, end), OPTS));
      }
    }
  });
});

describe('AnswerWriter — what a page is sent while an answer streams', () => {
  afterEach(() => jest.useRealTimers());

  test('each render is the whole render of the answer so far; a page joining gets it too', () => {
    jest.useFakeTimers();
    const frames: string[] = [];
    const writer = new AnswerWriter({ open: true, html: (h: string) => frames.push(h) }, 7, 'Copy');
    const text = Object.values(ANSWERS).join('\n\n');
    writer.started();
    for (let at = 0; at < text.length; at += 11) {
      jest.setSystemTime(Date.now() + 60_000); // a render is due with every piece
      writer.piece(text.slice(at, at + 11));
      const whole = renderStreaming(text.slice(0, at + 11), OPTS).html;
      expect(frames.at(-1)).toContain(whole);
      let joined = '';
      writer.joined((frame) => (joined = frame));
      expect(joined || frames.at(-1)).toContain(whole);
    }
    writer.cancel();
  });
});
