// A static server for dist/web that sends the strict policy as a header too, a headless Chromium to load it, and the
// session a browser test file sets up with both.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';

export const STRICT_CSP = "script-src 'self' 'wasm-unsafe-eval'";
const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.onnx': 'application/octet-stream',
};

/** Serves `root` on a free local port; paths outside it are refused. */
export async function serve(root: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const path = normalize(join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    const file = path.endsWith('/') ? join(path, 'index.html') : path;
    if (!file.startsWith(root) || !statSync(file, { throwIfNoEntry: false })?.isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-security-policy': STRICT_CSP,
    });
    res.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server };
}

/** Debian's chromium, headless and offline apart from the local server. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** What a browser test works with: Chromium, the built page's address, and a temporary folder of its own. */
export interface WebSession {
  browser: Browser;
  url: string;
  dir: string;
}

/**
 * Serves dist/web and launches Chromium before the file's tests (the session is filled in then), and closes both
 * and removes the folder after them.
 */
export function webSession(prefix: string): WebSession {
  const session = { dir: mkdtempSync(join(tmpdir(), prefix)) } as WebSession;
  let server: Server | undefined;
  beforeAll(async () => {
    let url: string;
    ({ url, server } = await serve(resolve('dist/web')));
    session.url = url;
    session.browser = await launchChromium();
  });
  afterAll(async () => {
    await session.browser?.close();
    server?.close();
    rmSync(session.dir, { recursive: true, force: true });
  });
  return session;
}
