// A signed-in browser for the benches: keeps cookies, posts forms, reads the CSRF token of a page.
export class Client {
  private cookies = new Map<string, string>();
  constructor(private readonly base: string) {}

  /** The Cookie header this browser sends. */
  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('Cookie', this.cookieHeader());
    const res = await fetch(this.base + path, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const at = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, at), pair!.slice(at + 1));
    }
    return res;
  }

  async form(path: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
    return this.request(path, { method: 'POST', body: new URLSearchParams(fields), headers });
  }

  /** Signs in through the login form; the CSRF token of the page it lands on, for the next forms. */
  async signIn(username: string, password: string): Promise<string> {
    const login = await (await this.request('/login')).text();
    const res = await this.form('/login', { _csrf: field(login, '_csrf'), username, password });
    if (res.status !== 303) throw new Error(`sign-in of ${username}: ${res.status}`);
    await res.arrayBuffer();
    return field(await (await this.request('/')).text(), '_csrf');
  }
}

/** A hidden field's value in a page. */
export const field = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';

export const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

export const round2 = (n: number) => Math.round(n * 100) / 100;
