// TeX in messages (src/http/markdown-math.ts): what a reader gets for the math models write, for
// prose with dollar amounts, for broken TeX and for TeX written to attack the page.
import { renderMarkdown, renderStreaming } from '../src/http/markdown';

/** The TeX of each formula in the output, from KaTeX's annotation (the source, unescaped). */
function formulas(html: string): string[] {
  return [...html.matchAll(/<annotation encoding="application\/x-tex">([\s\S]*?)<\/annotation>/g)]
    .map((m) => m[1].replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#x27;/g, "'").replace(/&amp;/g, '&'));
}

/** The output with each formula replaced by [TeX], to read the prose around it. */
function prose(html: string): string {
  return html.replace(/<span class="katex">[\s\S]*?<\/math><\/span>/g, (m) => `[${formulas(m)[0]}]`);
}

describe('renderMarkdown — math', () => {
  test('$…$ is inline MathML with the TeX source kept in its annotation', () => {
    const html = renderMarkdown('Energy: $E = mc^2$.');
    expect(prose(html)).toBe('<p>Energy: [E = mc^2].</p>\n');
    expect(html).toContain('<math xmlns="http://www.w3.org/1998/Math/MathML">');
    expect(html).toContain('<msup><mi>c</mi><mn>2</mn></msup>');
  });

  test('$$…$$ is a displayed formula, and \\, is not eaten as a markdown escape', () => {
    const html = renderMarkdown('$$\\int_0^1 x^2\\,dx$$');
    expect(html).toMatch(/^<div class="math-display"><span class="katex"><math [^>]*display="block"/);
    expect(formulas(html)).toEqual(['\\int_0^1 x^2\\,dx']);
    expect(html).toContain('<mo>∫</mo>');
  });

  test('\\(…\\) and \\[…\\], as models write them, are inline and displayed', () => {
    const html = renderMarkdown('Pythagoras: \\(a^2+b^2=c^2\\), so\n\\[\nc = \\sqrt{a^2+b^2}\n\\]\ndone');
    expect(formulas(html)).toEqual(['a^2+b^2=c^2', 'c = \\sqrt{a^2+b^2}']);
    expect(html).toContain('<div class="math-display">');
    expect(html).toContain('<p>done</p>');
  });

  test('a $$ block on lines of its own may follow a line of prose directly', () => {
    const html = renderMarkdown('The area is\n$$\n\\pi r^2\n$$\nfor a circle.');
    expect(prose(html)).toBe('<p>The area is</p>\n<div class="math-display">[\\pi r^2]</div>\n<p>for a circle.</p>\n');
  });

  test('math inside lists, quotes and table cells', () => {
    const html = renderMarkdown('- one $x_1$\n- two $x_2$\n\n> $y$\n\n| a | b |\n|---|---|\n| $z$ | 1 |');
    expect(formulas(html)).toEqual(['x_1', 'x_2', 'y', 'z']);
  });

  test('dollar amounts in prose stay text', () => {
    const texts = [
      'it costs $5 and $10', 'between $5-$10 today', 'from $5.00/$6.00 a month', 'US$5 (about $7)',
      'a $ sign and another $ sign', '$ x $ is not math', 'costs $5; $', 'Price: $20, discount $5.',
    ];
    for (const text of texts) {
      const html = renderMarkdown(text);
      expect(html).not.toContain('<math');
      expect(html).toBe(`<p>${text}</p>\n`);
    }
  });

  test('prose with a price and a formula: only the formula is math; an escaped \\$ is a dollar', () => {
    expect(prose(renderMarkdown('It costs $5, or $x$ per unit.'))).toBe('<p>It costs $5, or [x] per unit.</p>\n');
    expect(prose(renderMarkdown('\\$5 and $y$'))).toBe('<p>$5 and [y]</p>\n');
    expect(formulas(renderMarkdown('$\\$5 + x$'))).toEqual(['\\$5 + x']);
  });

  test('code spans and code blocks are never math', () => {
    expect(renderMarkdown('`$x$` and `\\(y\\)`')).toBe('<p><code>$x$</code> and <code>\\(y\\)</code></p>\n');
    expect(renderMarkdown('```\n$$x$$\n```')).not.toContain('<math');
  });

  test('invalid TeX is shown as written, styled as an error, and nothing throws', () => {
    expect(renderMarkdown('see $\\frac{1}{$ here')).toBe('<p>see <code class="math-error">$\\frac{1}{$</code> here</p>\n');
    expect(renderMarkdown('\\(\\undefinedmacro\\)')).toBe('<p><code class="math-error">\\(\\undefinedmacro\\)</code></p>\n');
    expect(renderMarkdown('$$\n\\left( x\n$$')).toBe('<pre class="math-error">$$\n\\left( x\n$$</pre>\n');
  });

  test('a $$ block never closed is its source: an error in a finished answer, pending while it streams', () => {
    expect(renderMarkdown('Here:\n\n$$\n\\int_0^1')).toContain('<pre class="math-error">$$\n\\int_0^1</pre>');
    const streaming = renderStreaming('Here:\n\n$$\n\\int_0^1', { copyLabel: 'Copy', tail: 'm1-tail' });
    expect(streaming.html).toContain('<pre class="math-pending">$$\n\\int_0^1<span id="m1-tail"></span></pre>');
    expect(streaming.tail).toBe(true);
  });

  test('a blank line ends a $$ block before it closes: TeX has none inside a formula', () => {
    const html = renderMarkdown('$$\nx\n\nNext paragraph $$');
    expect(html).not.toContain('math-display');
    expect(html).toContain('<p>Next paragraph $$</p>');
  });
});

describe('renderMarkdown — math written to attack the page', () => {
  const hostile = [
    '$\\href{javascript:alert(1)}{click}$', '$\\url{javascript:alert(1)}$', '$\\htmlData{hx-get=/admin}{x}$',
    '$\\htmlStyle{color:red}{x}$', '$\\htmlId{balance}{x}$', '$\\includegraphics{https://evil/x.png}$',
    '$\\text{<img src=x onerror=alert(1)>}$', '$<script>alert(1)</script>$', '$$\\text{</math><script>x</script>}$$',
    '$\\color{red" onclick="x}{y}$', '$x$<img src=x onerror=alert(1)>',
  ];
  test.each(hostile)('%s comes out inert', (text) => {
    const html = renderMarkdown(text);
    expect(html).not.toMatch(/<(script|img|iframe|svg|a)\b/i);
    expect(html).not.toMatch(/<[^>]*\s(on[a-z]+|style|href|src|id|hx-[\w-]*|data-[\w-]*)\s*=/i);
  });

  test('TeX that defines macros (which multiply what they make), or is very long, is shown as source', () => {
    const bomb = renderMarkdown('$\\def\\a{\\a\\a}\\a$');
    expect(bomb).toContain('class="math-error"');
    const nested = `\\def\\a{${'x'.repeat(1000)}}\\def\\b{${'\\a'.repeat(10)}}\\def\\c{${'\\b'.repeat(10)}}\\c\\c\\c\\c`;
    for (const tex of [nested, '\\newcommand{\\x}{y}\\x', '\\gdef\\x{y}\\x', '\\let\\x=y \\x', '\\renewcommand{\\frac}{y}\\frac']) {
      expect(renderMarkdown(`$$${tex}$$`)).toMatch(/^<pre class="math-error">/);
    }
    expect(formulas(renderMarkdown('$\\frac{1}{2} \\le x \\ne y \\dots \\R$'))).toHaveLength(1); // KaTeX's own macros still work
    const long = `$${'x+'.repeat(3000)}x$`;
    expect(renderMarkdown(long)).toContain('class="math-error"');
  });

  test('openers that never close, thousands of times over, are read once each: the answer is text', () => {
    const inline = renderMarkdown('\\( '.repeat(40_000));
    expect(inline).not.toContain('<math');
    expect(inline.length).toBeGreaterThan(40_000);
    const lines = renderMarkdown(`${'\\[a\n'.repeat(20_000)}\n$$\n${'b\n'.repeat(20_000)}\nend`);
    expect(lines).not.toContain('<math');
    expect(lines).toContain('<p>end</p>');
  });

  test('the same formula in many renders (an answer streaming) is typeset once', () => {
    const text = '$$\\sum_{i=1}^n i = \\frac{n(n+1)}{2}$$';
    const first = renderMarkdown(text);
    for (let i = 0; i < 50; i++) expect(renderMarkdown(text)).toBe(first);
  });
});
