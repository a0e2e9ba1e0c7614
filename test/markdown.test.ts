import { renderMarkdown, renderPlain } from '../src/http/markdown';

/** Every start tag in the output, with its attribute names (quoted values skipped properly). */
function tags(html: string): { name: string; attrs: string[] }[] {
  const out: { name: string; attrs: string[] }[] = [];
  for (const m of html.matchAll(/<([a-zA-Z][\w-]*)((?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)\s*\/?>/g)) {
    const attrs = [...m[2].matchAll(/\s+([^\s"'>/=]+)(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?/g)].map((a) => a[1].toLowerCase());
    out.push({ name: m[1].toLowerCase(), attrs });
  }
  return out;
}

function hrefs(html: string): string[] {
  return [...html.matchAll(/\shref="([^"]*)"/g)].map((m) => m[1]);
}

/** What the browser would act on: tags and attributes, not escaped text. */
function expectInert(html: string): void {
  expect(html).not.toMatch(/<script/i);
  expect(html).not.toMatch(/<[^>]*\s(data-)?hx-/i);
  expect(html).not.toMatch(/<[^>]*\son[a-z]+\s*=/i);
  for (const tag of tags(html)) {
    expect(['script', 'iframe', 'img', 'object', 'embed', 'style', 'form', 'input', 'svg']).not.toContain(tag.name);
    for (const attr of tag.attrs) {
      expect(attr).not.toMatch(/^(on|hx-|data-hx-|hx:|style$|src$|srcdoc$|formaction$)/);
    }
  }
  for (const href of hrefs(html)) {
    const compact = href.replace(/&[#\w]+;|[\s\p{Cc}]/gu, '').toLowerCase();
    expect(compact).not.toMatch(/^(javascript|data|vbscript|file):/);
  }
}

test('the inertness check itself rejects live markup', () => {
  const live = [
    '<script>x</script>', '<p onclick="x()">', '<a href="#" hx-get="/admin">', '<div data-hx-post="/x">',
    '<div hx-on:click="x">', '<a href="JavaScript:x">', '<a href="data:text/html,x">', '<img src="https://t/p.png">',
  ];
  for (const html of live) expect(() => expectInert(html)).toThrow();
});

describe('renderMarkdown — ordinary replies', () => {
  test('headings, lists and emphasis become HTML', () => {
    const html = renderMarkdown('# Title\n\n- one\n- *two*\n\n1. first\n\n**bold** and `code`');
    expect(html).toContain('<h1>Title</h1>');
    expect(html).toContain('<li><em>two</em></li>');
    expect(html).toContain('<ol>');
    expect(html).toContain('<strong>bold</strong>');
    expect(html).toContain('<code>code</code>');
  });

  test('single newlines are kept as line breaks', () => {
    expect(renderMarkdown('line one\nline two')).toBe('<p>line one<br>\nline two</p>\n');
  });

  test('CJK text is kept intact', () => {
    const text = '你好，世界！这是**重点**。日本語のテキスト、한국어 텍스트';
    const html = renderMarkdown(text);
    expect(html).toContain('你好，世界！这是<strong>重点</strong>。日本語のテキスト、한국어 텍스트');
  });

  test('empty and blank input give empty output', () => {
    expect(renderMarkdown('')).toBe('');
    expect(renderMarkdown('  \n\n ')).toBe('');
  });

  test('links open in a new tab without referrer or opener, bare URLs are linked', () => {
    const html = renderMarkdown('[docs](https://example.com/a "title") and https://example.org/路径');
    expect(html).toContain('<a href="https://example.com/a" target="_blank" rel="noopener noreferrer nofollow">docs</a>');
    expect(html).toContain('href="https://example.org/%E8%B7%AF%E5%BE%84"');
    expect(html).not.toContain('title=');
    expect(hrefs(html)).toHaveLength(2);
  });
});

describe('renderMarkdown — code blocks', () => {
  test('a fence naming a known language is highlighted and has a copy button', () => {
    const html = renderMarkdown('```ts\nconst n: number = 1; // one\n```');
    expect(html).toContain(
      '<div class="code-block"><div class="code-head"><span class="code-lang">ts</span>' +
        '<button type="button" class="copy-code" data-copy aria-label="Copy">Copy</button></div>' +
        '<pre><code class="hljs language-ts">',
    );
    expect(html).toContain('<span class="hljs-keyword">const</span>');
    expect(html).toContain('<span class="hljs-comment">// one</span>');
    expectInert(html);
  });

  test('the copy label comes from the caller and is escaped', () => {
    const html = renderMarkdown('```py\nprint(1)\n```', { copyLabel: '复制 "<b>"' });
    expect(html).toContain('aria-label="复制 &quot;&lt;b&gt;&quot;">复制 &quot;&lt;b&gt;&quot;</button>');
  });

  test('an unknown language is escaped, not highlighted', () => {
    const html = renderMarkdown('```klingon\n<b onclick="x()">qapla</b>\n```');
    expect(html).toContain('<span class="code-lang">klingon</span>');
    expect(html).toContain('&lt;b onclick=&quot;x()&quot;&gt;qapla&lt;/b&gt;');
    expect(html).not.toContain('hljs-');
    expectInert(html);
  });

  test('a fence without a language, and an indented block, are escaped code blocks', () => {
    for (const text of ['```\n<i>x</i>\n```', '    <i>x</i>']) {
      const html = renderMarkdown(text);
      expect(html).toContain('<pre><code class="hljs">&lt;i&gt;x&lt;/i&gt;\n</code></pre>');
      expect(html).not.toContain('code-lang');
      expect(html).toContain('class="copy-code"');
    }
  });

  test('a hostile info string cannot reach the class or label', () => {
    const html = renderMarkdown('```"><img src=x onerror=alert(1)>\nx\n```\n```js hx-get="/x"\ny\n```');
    expect(html).not.toContain('<img');
    expect(html).toContain('<span class="code-lang">js</span>');
    expectInert(html);
  });

  test('HTML inside highlighted code stays text', () => {
    const html = renderMarkdown('```html\n<script>alert(1)</script>\n<div hx-get="/admin">\n```');
    expect(html).toContain('hljs-tag');
    expectInert(html);
  });
});

describe('renderMarkdown — hostile input comes out inert', () => {
  const payloads = [
    '<script>alert(1)</script>',
    '<img src=x onerror=alert(1)>',
    '[x](javascript:alert(1))',
    '[x](JAVASCRIPT:alert(1))',
    '[x]( javascript:alert(1) )',
    '[x](java&#x09;script:alert(1))',
    '[x](&#106;avascript:alert(1))',
    '[x](vbscript:msgbox(1))',
    '[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
    '[x](data:image/png;base64,iVBORw0KGgo=)',
    '<javascript:alert(1)>',
    '[x][r]\n\n[r]: javascript:alert(1)',
    '<a href="#" hx-get="/admin" hx-trigger="load">',
    '<div hx-on:click="alert(1)">',
    '<div data-hx-post="/logout">',
    '<button hx-post="/api/redeem" hx-vals=\'{"code":"x"}\'>free tokens</button>',
    '<style>body{display:none}</style>',
    '<iframe src="https://evil.example"></iframe>',
    '[click](https://example.com "x\\" onmouseover=\\"alert(1)")',
  ];

  test.each(payloads)('%s', (payload) => {
    const html = renderMarkdown(payload);
    expectInert(html);
    expect(html).not.toBe('');
  });

  test('escaped markup is still shown to the reader as text', () => {
    expect(renderMarkdown('<script>alert(1)</script>')).toBe('<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n');
    expect(renderMarkdown('<div hx-on:click="alert(1)">')).toContain('&lt;div hx-on:click=&quot;alert(1)&quot;&gt;');
  });

  test('a refused link target leaves the markdown as plain text', () => {
    expect(renderMarkdown('[x](javascript:alert(1))')).toBe('<p>[x](javascript:alert(1))</p>\n');
  });

  test('random mixtures of hostile fragments stay inert', () => {
    const fragments = [...payloads, '**', '`', '```js\n', '\n```\n', '\n\n', '| a |\n|---|\n| b |\n', '> ', '- ',
      '![i](https://t.example/p.png)', '[', '](', ')', '"', "'", '<', '>', 'hx-get=', ' onerror=', '&#x3C;', '\\'];
    let seed = 42;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 300; i++) {
      const parts = Array.from({ length: 1 + Math.floor(next() * 8) }, () => fragments[Math.floor(next() * fragments.length)]);
      expectInert(renderMarkdown(parts.join('')));
    }
  });
});

describe('renderMarkdown — images and tables', () => {
  test('an image becomes a link with its alt text, never an <img>', () => {
    const html = renderMarkdown('![a *cat* photo](https://img.example/cat.png "Cat")');
    expect(html).toBe(
      '<p><a href="https://img.example/cat.png" target="_blank" rel="noopener noreferrer nofollow">a cat photo</a></p>\n',
    );
  });

  test('an image without alt text shows its URL; one inside a link does not nest anchors', () => {
    expect(renderMarkdown('![](https://img.example/x.png)')).toContain('>https://img.example/x.png</a>');
    const nested = renderMarkdown('[![badge](https://img.example/b.svg)](https://ci.example)');
    expect(nested).toBe(
      '<p><a href="https://ci.example" target="_blank" rel="noopener noreferrer nofollow">badge</a></p>\n',
    );
  });

  test('an image with an unsafe target is not linked', () => {
    const html = renderMarkdown('![x](javascript:alert(1))');
    expect(html).not.toContain('<a');
    expectInert(html);
  });

  test('tables are wrapped for sideways scrolling and aligned by class, not style', () => {
    const html = renderMarkdown('| name | n |\n|:--|--:|\n| 甲 | 1 |');
    expect(html.startsWith('<div class="table-wrap"><table>')).toBe(true);
    expect(html.trimEnd().endsWith('</table></div>')).toBe(true);
    expect(html).toContain('<th class="align-left">name</th>');
    expect(html).toContain('<td class="align-right">1</td>');
    expect(html).not.toContain('style=');
  });
});

describe('renderPlain', () => {
  test('escapes markup and keeps line breaks', () => {
    expect(renderPlain('a <b>&\r\nc\nd "e"')).toBe('a &lt;b&gt;&amp;<br>c<br>d &quot;e&quot;');
  });

  test('leaves markdown syntax and CJK text as typed', () => {
    expect(renderPlain('**不是粗体**')).toBe('**不是粗体**');
    expect(renderPlain('')).toBe('');
  });
});
