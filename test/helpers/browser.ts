/**
 * A real headless Chromium (Debian's chromium-headless-shell, from `infctl dev tools`) driven over the Chrome
 * DevTools Protocol on a pipe (--remote-debugging-pipe): no WebSocket, no browser download, no npm package.
 * Messages are JSON separated by NUL bytes; the browser reads fd 3 and writes fd 4.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

interface Reply {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
  sessionId?: string;
}

interface Pending {
  method: string;
  resolve: (r: Record<string, unknown>) => void;
  reject: (e: Error) => void;
}

/** Debian's /usr/bin/chromium-headless-shell is a shell wrapper: the browser runs as its child, so the
 * browser gets its own process group and is killed as a group. */
function killGroup(child: ChildProcess): void {
  try {
    process.kill(-(child.pid as number), 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) killGroup(child);
});

export class Browser {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners: ((m: Reply) => void)[] = [];
  private buffer = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly profile: string,
    readonly output: () => string,
  ) {
    const input = child.stdio[4] as Readable;
    input.on('data', (chunk: Buffer) => this.receive(chunk.toString('utf8')));
    child.on('exit', (code, signal) => {
      for (const p of this.pending.values())
        p.reject(new Error(`chromium exited (${code ?? signal}) during ${p.method}\n${output()}`));
      this.pending.clear();
    });
  }

  /** Starts the browser with a fresh profile; the window size is the viewport pages start with. */
  static async launch(executable: string, size = { width: 1440, height: 900 }): Promise<Browser> {
    const profile = mkdtempSync(join(tmpdir(), 'infctl-chromium-'));
    const child = spawn(
      executable,
      [
        '--remote-debugging-pipe',
        `--user-data-dir=${profile}`,
        // Root in a container has no user namespaces for the sandbox; the pages are our own local UI.
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--no-first-run',
        '--hide-scrollbars',
        '--mute-audio',
        `--window-size=${size.width},${size.height}`,
        'about:blank',
      ],
      { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'], detached: true },
    );
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-10_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    running.add(child);
    child.on('exit', () => {
      running.delete(child);
      rmSync(profile, { recursive: true, force: true });
    });
    const browser = new Browser(child, profile, () => output);
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', resolve);
    });
    if (spawned) throw new Error(`cannot start ${executable}: ${spawned.message}`);
    const version = await browser.send('Browser.getVersion', {}, undefined, 30_000);
    if (typeof version.product !== 'string') throw new Error(`no Browser.getVersion answer\n${output}`);
    return browser;
  }

  private receive(text: string): void {
    this.buffer += text;
    let end: number;
    while ((end = this.buffer.indexOf('\0')) >= 0) {
      const message = JSON.parse(this.buffer.slice(0, end)) as Reply;
      this.buffer = this.buffer.slice(end + 1);
      if (message.id !== undefined) {
        const p = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (!p) continue;
        if (message.error) p.reject(new Error(`${p.method}: ${message.error.message}`));
        else p.resolve(message.result ?? {});
      } else {
        for (const listen of this.listeners) listen(message);
      }
    }
  }

  /** One DevTools command; `sessionId` addresses a page attached in flat mode. */
  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
    timeoutMs = 30_000,
  ): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    const out = this.child.stdio[3] as Writable;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no answer from chromium within ${timeoutMs / 1000}s`));
      }, timeoutMs);
      const done =
        <T>(f: (v: T) => void) =>
        (v: T) => {
          clearTimeout(timer);
          f(v);
        };
      this.pending.set(id, { method, resolve: done(resolve), reject: done(reject) });
      out.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });
  }

  onEvent(listen: (message: Reply) => void): void {
    this.listeners.push(listen);
  }

  async newPage(size = { width: 1440, height: 900 }): Promise<Page> {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true });
    const page = new Page(this, sessionId as string);
    await page.send('Page.enable');
    await page.send('Runtime.enable');
    await page.send('Emulation.setDeviceMetricsOverride', {
      ...size,
      deviceScaleFactor: 1,
      mobile: false,
    });
    return page;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    await this.send('Browser.close', {}, undefined, 5_000).catch(() => killGroup(this.child));
    const timer = setTimeout(() => killGroup(this.child), 5_000);
    await exited;
    clearTimeout(timer);
    rmSync(this.profile, { recursive: true, force: true });
  }
}

export interface ScreenshotOptions {
  /** Scales the captured viewport (0.5 halves both sides), for a small picture. */
  scale?: number;
  /** Height of the region captured from the top of the viewport, in CSS pixels. */
  height?: number;
}

export class Page {
  /** The page's console errors and uncaught exceptions, for failure messages. */
  readonly errors: string[] = [];

  constructor(
    private readonly browser: Browser,
    private readonly sessionId: string,
  ) {
    browser.onEvent((m) => {
      if (m.sessionId !== sessionId) return;
      if (m.method === 'Runtime.exceptionThrown') {
        const details = m.params?.exceptionDetails as { text?: string; exception?: { description?: string } };
        this.errors.push(details.exception?.description ?? details.text ?? 'exception');
      } else if (m.method === 'Runtime.consoleAPICalled' && m.params?.type === 'error') {
        const args = (m.params.args as { value?: unknown; description?: string }[]) ?? [];
        this.errors.push(args.map((a) => a.description ?? String(a.value)).join(' '));
      }
    });
  }

  send(method: string, params: Record<string, unknown> = {}, timeoutMs?: number) {
    return this.browser.send(method, params, this.sessionId, timeoutMs);
  }

  async goto(url: string): Promise<void> {
    const r = await this.send('Page.navigate', { url });
    if (typeof r.errorText === 'string' && r.errorText) throw new Error(`opening ${url}: ${r.errorText}`);
  }

  /** Evaluates a JavaScript expression in the page (promises awaited) and answers its JSON value. */
  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    const failure = r.exceptionDetails as { text?: string; exception?: { description?: string } } | undefined;
    if (failure)
      throw new Error(`in the page: ${failure.exception?.description ?? failure.text}\n  ${expression}`);
    return (r.result as { value?: T } | undefined)?.value as T;
  }

  /** Polls an expression until it answers something other than null, undefined or false. */
  async waitFor<T>(what: string, expression: string, timeoutMs = 30_000): Promise<T> {
    const started = Date.now();
    let last: unknown;
    let lastError = '';
    while (Date.now() - started < timeoutMs) {
      try {
        last = await this.evaluate<T>(expression);
        if (last !== null && last !== undefined && last !== false) return last as T;
      } catch (err) {
        // A navigation in progress destroys the context; the next poll runs in the new page.
        lastError = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(
      `${what}: not shown within ${timeoutMs / 1000}s (last answer ${JSON.stringify(last)}${lastError ? `; ${lastError}` : ''})`,
    );
  }

  /** The visible text of the first element matching a CSS selector (innerText: what a person reads). */
  text(selector: string): Promise<string | null> {
    return this.evaluate(`document.querySelector(${JSON.stringify(selector)})?.innerText ?? null`);
  }

  /** The visible text of every element matching a CSS selector. */
  texts(selector: string): Promise<string[]> {
    return this.evaluate(
      `[...document.querySelectorAll(${JSON.stringify(selector)})].map((e) => e.innerText)`,
    );
  }

  /**
   * Clicks the middle of the element an expression answers, with real mouse events, after scrolling it into
   * view: a hidden or covered element fails the way it would for a person.
   */
  async click(what: string, elementExpression: string): Promise<void> {
    // Scrolls without animation, then waits until the element stops moving (a scrolling container or a
    // re-render may still shift it), and hit-tests its middle: what is on top there is what a click reaches.
    const found = await this.evaluate<{ x: number; y: number; covered?: string } | null>(
      `(async () => {
        const e = ${elementExpression};
        if (!e) return null;
        e.scrollIntoView({ block: 'center', behavior: 'instant' });
        let last = '';
        for (let i = 0; i < 40; i++) {
          await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
          const r = e.getBoundingClientRect();
          const now = [r.x, r.y, r.width, r.height].join(',');
          if (now === last) break;
          last = now;
        }
        const r = e.getBoundingClientRect();
        if (r.width === 0 || r.height === 0) return null;
        const x = r.x + r.width / 2, y = r.y + r.height / 2;
        const h = document.elementFromPoint(x, y);
        if (h && (h === e || e.contains(h))) return { x, y };
        return { x, y, covered: h ? h.outerHTML.slice(0, 200) : 'nothing (off screen)' };
      })()`,
    );
    if (!found) throw new Error(`${what}: nothing visible to click`);
    if (found.covered) throw new Error(`${what}: covered at (${found.x}, ${found.y}) by ${found.covered}`);
    const { x, y } = found;
    await this.send('Input.dispatchMouseEvent', { type: 'mouseMoved', x, y });
    for (const type of ['mousePressed', 'mouseReleased'])
      await this.send('Input.dispatchMouseEvent', { type, x, y, button: 'left', clickCount: 1 });
  }

  /** Saves a PNG of the viewport (or its top `height` pixels, scaled) and answers the file's path. */
  async screenshot(path: string, options: ScreenshotOptions = {}): Promise<string> {
    const metrics = await this.send('Page.getLayoutMetrics');
    const viewport = metrics.cssVisualViewport as {
      pageX: number;
      pageY: number;
      clientWidth: number;
      clientHeight: number;
    };
    // The clip is in document coordinates: the viewport starts at the page's scroll offset.
    const clip = {
      x: viewport.pageX,
      y: viewport.pageY,
      width: viewport.clientWidth,
      height: Math.min(options.height ?? viewport.clientHeight, viewport.clientHeight),
      scale: options.scale ?? 1,
    };
    const { data } = await this.send('Page.captureScreenshot', { format: 'png', clip });
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, Buffer.from(data as string, 'base64'));
    return path;
  }

  url(): Promise<string> {
    return this.evaluate('location.href');
  }
}
