/**
 * The review page in a real browser: Debian's Chromium driven by playwright-core against `tapline web` running as
 * its own process. Log in, search, open, play, see both channels, seek, change speed, download; an agent's reach;
 * chat text that looks like markup. Every page's screenshot is saved in out/screenshots/ (test/browser.ts).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, launchChromium, shot } from '../browser';
import { cli, HOSTILE_TEXT, PASSWORDS, recordCatalogue, startWeb, type WebFixture, type Who } from '../web-fixture';

async function logIn(page: Page, base: string, who: Who): Promise<void> {
  await page.goto(base + '/');
  await page.getByTestId('login-username').fill(who);
  await page.getByTestId('login-password').fill(PASSWORDS[who]);
  await page.getByTestId('login-submit').click();
  await page.waitForFunction(() => document.body.dataset.view === 'recordings');
}

/** Painted pixels per horizontal band of the waveform's canvases: one band a channel, and the colours each drew. */
async function waveformBands(page: Page): Promise<Array<{ top: number; painted: number; colour: string }>> {
  return page.evaluate(() => {
    const host = document.querySelector('[data-testid=waveform]');
    const roots: Array<Document | ShadowRoot | Element> = [];
    if (host !== null) {
      roots.push(host);
      for (const el of Array.from(host.querySelectorAll('*'))) if (el.shadowRoot !== null) roots.push(el.shadowRoot);
    }
    const bands = new Map<number, { painted: number; colours: Map<string, number> }>();
    for (const root of roots) {
      for (const c of Array.from(root.querySelectorAll('canvas'))) {
        const ctx = c.getContext('2d');
        if (ctx === null || c.width === 0 || c.height === 0) continue;
        const data = ctx.getImageData(0, 0, c.width, c.height).data;
        const top = Math.round(c.getBoundingClientRect().top);
        const band = bands.get(top) ?? { painted: 0, colours: new Map<string, number>() };
        for (let i = 0; i < data.length; i += 4) {
          if ((data[i + 3] as number) < 128) continue;
          band.painted++;
          const key = `${data[i]},${data[i + 1]},${data[i + 2]}`;
          band.colours.set(key, (band.colours.get(key) ?? 0) + 1);
        }
        bands.set(top, band);
      }
    }
    return [...bands.entries()].map(([top, b]) => ({ top, painted: b.painted, colour: [...b.colours.entries()].sort((x, y) => y[1] - x[1])[0]?.[0] ?? '' }));
  });
}

describe('web page in Chromium (playwright-core)', function () {
  this.timeout(240_000);
  let web: WebFixture;
  let browser: Browser;

  before(async function () {
    if (!fs.existsSync(cli)) this.skip();
    if (!fs.existsSync(CHROMIUM)) {
      console.log(`      (skipped: ${CHROMIUM} is not installed; npm run test:all installs it)`);
      this.skip();
    }
    const { dir, config } = await recordCatalogue();
    web = await startWeb(dir, config);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await web?.stop();
    if (web !== undefined) fs.rmSync(web.dir, { recursive: true, force: true });
  });

  it('logs in, searches by user and time, opens, plays, seeks, changes speed and downloads a recording', async () => {
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(web.url + '/');
    await page.waitForFunction(() => document.body.dataset.view === 'login');
    await shot(page, 'web-login');
    await page.getByTestId('login-username').fill('admin');
    await page.getByTestId('login-password').fill('not the password');
    await page.getByTestId('login-submit').click();
    await page.getByTestId('login-error').waitFor();
    assert.match(await page.getByTestId('login-error').innerText(), /wrong user name or password/);
    await page.getByTestId('login-password').fill(PASSWORDS.admin);
    await page.getByTestId('login-submit').click();
    await page.waitForFunction(() => document.body.dataset.view === 'recordings');
    await page.getByTestId('result-row').first().waitFor();
    assert.equal(await page.getByTestId('result-row').count(), 3);
    await shot(page, 'web-recordings');

    // By user and time: caller2's call started at 09:00:02-ish on 2024-01-15 (UTC); the page takes local time.
    await page.getByTestId('filter-user').fill('caller2');
    const local = (iso: string): string => {
      const d = new Date(iso);
      const p = (n: number): string => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
    };
    await page.getByTestId('filter-from').fill(local('2024-01-15T08:00:00Z'));
    await page.getByTestId('filter-to').fill(local('2024-01-15T10:00:00Z'));
    await page.getByTestId('search-submit').click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=result-row]').length === 1);
    const row = page.getByTestId('result-row').first();
    assert.match(await row.innerText(), /caller2/);
    const id = (await row.getAttribute('data-id')) as string;
    await shot(page, 'web-search');
    await row.click();
    await page.waitForFunction(() => document.body.dataset.view === 'recording');
    await page.waitForSelector('[data-testid=recording][data-ready="1"]');
    await page.waitForTimeout(300);
    await shot(page, 'web-recording');

    // Two channels drawn, one above the other, in two colours, before any audio was played.
    const bands = (await waveformBands(page)).filter((b) => b.painted > 50);
    assert.ok(bands.length >= 2, `painted waveform bands: ${JSON.stringify(bands)}`);
    assert.notEqual(bands[0]?.colour, bands[bands.length - 1]?.colour, 'caller and callee in their own colours');

    // Play: the audio element's time advances.
    await page.getByTestId('player-play').click();
    await page.waitForFunction(() => ((document.querySelector('[data-testid=audio]') as HTMLAudioElement | null)?.currentTime ?? 0) > 0.5, undefined, { timeout: 15_000 });
    // Speed.
    await page.getByTestId('player-speed').selectOption('2');
    assert.equal(await page.$eval('[data-testid=audio]', (a) => (a as HTMLAudioElement).playbackRate), 2);
    // Seek: a click in the middle of the waveform.
    await page.getByTestId('player-play').click(); // pause
    const box = await page.getByTestId('waveform').boundingBox();
    assert.ok(box !== null);
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 4);
    await page.waitForTimeout(200);
    const t = await page.$eval('[data-testid=audio]', (a) => (a as HTMLAudioElement).currentTime);
    assert.ok(t > 2.5 && t < 5.5, `seeked to ${t} s of an 8 s recording`);
    await page.getByTestId('player-back').click();
    assert.ok((await page.$eval('[data-testid=audio]', (a) => (a as HTMLAudioElement).currentTime)) < 0.01, '−10 s from the middle is the start');
    await shot(page, 'web-playing');

    // Download: the WAV, as a file.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('player-download').click()]);
    const saved = await download.path();
    const bytes = fs.readFileSync(saved);
    assert.equal(bytes.toString('latin1', 0, 4), 'RIFF');
    assert.ok(bytes.length > 100_000);
    assert.match(download.suggestedFilename(), new RegExp(`${id}\\.wav$`));
    assert.deepEqual(errors, []);
    await context.close();
  });

  it('shows an agent only their own recordings, and another’s by URL is refused', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await logIn(page, web.url, 'agent1');
    await page.getByTestId('result-row').first().waitFor();
    const rows = await page.getByTestId('result-row').allInnerTexts();
    assert.equal(rows.length, 1);
    assert.match(rows[0] as string, /caller1/);
    await shot(page, 'web-agent-recordings');
    // Another's recording by its URL: the admin's API gives its id.
    const adminCtx = await browser.newContext();
    const adminPage = await adminCtx.newPage();
    await logIn(adminPage, web.url, 'admin');
    const other = await adminPage.evaluate(async () => ((await (await fetch('/api/recordings?user=caller2')).json()) as { items: Array<{ id: string }> }).items[0]?.id);
    await adminCtx.close();
    assert.ok(other !== undefined);
    const status = await page.evaluate(async (id) => [(await fetch(`/api/recordings/${id}`)).status, (await fetch(`/api/recordings/${id}/audio`)).status], other);
    assert.deepEqual(status, [404, 404]);
    await page.goto(`${web.url}/#/recordings/${other}`);
    await page.getByTestId('view-error').waitFor();
    assert.match(await page.getByTestId('view-error').innerText(), /no such recording/i);
    assert.equal(await page.getByTestId('nav-admin').count(), 0, 'no admin pages for an agent');
    assert.equal(await page.getByTestId('nav-audit').count(), 0);
    await shot(page, 'web-agent-refused');
    await context.close();
  });

  it('renders a chat transcript’s <script> as text', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await logIn(page, web.url, 'admin');
    await page.getByTestId('nav-chats').click();
    await page.getByTestId('chat-row').first().click();
    await page.getByTestId('chat-message').first().waitFor();
    const texts = await page.getByTestId('chat-message').allInnerTexts();
    assert.ok(texts[0]?.includes(HOSTILE_TEXT), texts[0]);
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined, 'nothing ran');
    assert.equal(await page.locator('[data-testid=chat-message] script, [data-testid=chat-message] img').count(), 0);
    await shot(page, 'web-chat');
    await context.close();
  });

  it('shows the admin pages and the audit log', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await logIn(page, web.url, 'admin');
    await page.getByTestId('nav-admin').click();
    await page.getByTestId('users-table').waitFor();
    // Config users as text, the users file's as editable fields.
    const uris = await page.$$eval('[data-testid=user-row]', (rows) => rows.map((r) => (r.querySelector('input[data-testid=user-uri]') as HTMLInputElement | null)?.value ?? r.textContent ?? ''));
    assert.equal(uris.length, 3, JSON.stringify(uris));
    assert.ok(uris.some((u) => u.includes('caller3@tapline.test')), JSON.stringify(uris));
    await shot(page, 'web-admin-users');
    await page.goto(`${web.url}/#/admin/accounts`);
    await page.getByTestId('accounts-table').waitFor();
    assert.match(await page.getByTestId('accounts-table').innerText(), /supervisor/);
    await shot(page, 'web-admin-accounts');
    await page.goto(`${web.url}/#/admin/policy`);
    await page.getByTestId('policy').waitFor();
    await shot(page, 'web-admin-policy');
    await page.getByTestId('nav-audit').click();
    await page.getByTestId('audit-row').first().waitFor();
    const audit = await page.getByTestId('audit-row').allInnerTexts();
    assert.ok(audit.some((r) => /download/.test(r)), 'the download above is in the audit log');
    await shot(page, 'web-audit');
    await context.close();
  });
});
