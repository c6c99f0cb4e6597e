// Renders Superset dashboards in Debian's headless Chromium (playwright-core, executablePath):
// logs in through the login form, opens each dashboard, waits until every chart's data request has
// answered and no chart is still loading, saves a screenshot and prints one JSON line with what it saw.
//
// Usage: node render.js '<json>' where json = {baseUrl, username, password, dashboards: [{path,
// expectCharts, screenshot, waitBeforeMs}], chromium, width, height, timeoutMs, locale}
//
// A login that does not succeed fails at once, never as a timeout: exit status 3, and the JSON line's
// `login` says what Superset answered (the login form POST's status and Location, the URL the page
// ended on, the page's error message, the login page's own status). Superset answers wrong credentials
// with a redirect to /login/?next=<index> and a refused CSRF token or session cookie with one to
// /login/?next=/login/; its page then says "Invalid username or password" either way.
'use strict';
const { chromium } = require('playwright-core');

const LOADING = '[data-test="loading-indicator"], .loading';
const CHART_HOLDER = '[data-test-chart-id], .dashboard-chart';
const SUBMIT = 'button[type="submit"], [data-test="login-button"]';
// Superset's toasts, Flask-AppBuilder's flashed alerts, antd's alerts and form-field errors
const LOGIN_ERRORS = '.toast--danger, .toast--warning, .alert-danger, .alert-warning, .ant-alert-error, '
  + '.ant-form-item-explain-error';
const REDIRECTS = [301, 302, 303, 307, 308];
const MESSAGE_WAIT_MS = 5000;  // once refused: how long to wait for the page to say why
const LOGIN_FAILED_EXIT = 3;

class LoginFailed extends Error {
  constructor(report) {
    const post = report.post ? `POST /login/ answered ${report.post.status}`
      + `${report.post.location ? ` -> ${report.post.location}` : ''}` : 'no POST to /login/';
    super(`login refused (${post}; page message: ${JSON.stringify(report.message || '')}; `
      + `ended on ${report.url} after ${report.ms} ms${report.timedOut ? ', timed out' : ''})`);
    this.report = report;
  }
}

function pathOf(url) {
  try { return new URL(url).pathname; } catch (e) { return ''; }
}

async function pageMessage(page) {
  try {
    const texts = await page.$$eval(LOGIN_ERRORS, (nodes) => nodes.map((n) => n.innerText.trim()).filter(Boolean));
    return [...new Set(texts)].join(' | ');
  } catch (e) {
    return '';  // the page is navigating
  }
}

// Fill in and submit the login form, then race the page leaving /login against every sign of a
// refusal: the POST answered with the form again or an error status, a redirect back to /login, the
// page landing on /login again after the POST, or an error message on the page.
async function logIn(page, cfg, timeout) {
  const started = Date.now();
  const report = { ok: false, ms: 0, url: null, post: null, message: '', loginPageStatus: null, timedOut: false };
  const loginPage = await page.goto(`${cfg.baseUrl}/login/`);
  report.loginPageStatus = loginPage ? loginPage.status() : null;
  const finish = (ok) => {
    report.ok = ok;
    report.ms = Date.now() - started;
    report.url = page.url();
    if (!ok) throw new LoginFailed(report);
    return report;
  };
  if (report.loginPageStatus !== null && report.loginPageStatus >= 400) return finish(false);
  await page.fill('input#username, input[name="username"]', cfg.username);
  await page.fill('input#password, input[name="password"]', cfg.password);

  let backOnLogin = false;
  const onResponse = (response) => {
    if (response.request().method() === 'POST' && pathOf(response.url()).startsWith('/login')) {
      report.post = { status: response.status(), location: response.headers().location || null };
    }
  };
  const onNavigated = (frame) => {
    if (frame === page.mainFrame() && report.post && pathOf(frame.url()).startsWith('/login')) backOnLogin = true;
  };
  page.on('response', onResponse);
  page.on('framenavigated', onNavigated);
  try {
    await page.click(SUBMIT);
    const deadline = started + timeout;
    let refusedAt = null;
    for (;;) {
      if (!pathOf(page.url()).startsWith('/login')) return finish(true);
      report.message = await pageMessage(page);
      const post = report.post;
      const refused = backOnLogin || (post !== null && (!REDIRECTS.includes(post.status)
        || pathOf(new URL(post.location || '/', cfg.baseUrl).href).startsWith('/login')));
      if (report.message) return finish(false);
      if (refused && refusedAt === null) refusedAt = Date.now();
      if (refusedAt !== null && Date.now() - refusedAt > MESSAGE_WAIT_MS) return finish(false);
      if (Date.now() > deadline) {
        report.timedOut = true;
        return finish(false);
      }
      await page.waitForTimeout(100);
    }
  } finally {
    page.off('response', onResponse);
    page.off('framenavigated', onNavigated);
  }
}

function sliceIdOf(request) {
  const text = `${request.url()} ${request.postData() || ''}`;
  const decoded = (() => { try { return decodeURIComponent(text); } catch (e) { return text; } })();
  const match = decoded.match(/"slice_id"\s*:\s*(\d+)/);
  return match ? Number(match[1]) : null;
}

function summarise(body) {
  // /api/v1/chart/data: {result: [{data, rowcount, colnames}]}; legacy explore_json: {data, ...}
  if (body && Array.isArray(body.result)) {
    const first = body.result[0] || {};
    const data = Array.isArray(first.data) ? first.data : [];
    return { rowcount: first.rowcount ?? data.length, colnames: first.colnames || [], data: data.slice(0, 200) };
  }
  if (body && body.data) {
    const data = Array.isArray(body.data) ? body.data : (body.data.features || body.data.records || []);
    return { rowcount: Array.isArray(data) ? data.length : 0, colnames: [], data: Array.isArray(data) ? data.slice(0, 200) : [] };
  }
  return { rowcount: 0, colnames: [], data: [] };
}

async function main() {
  const cfg = JSON.parse(process.argv[2]);
  const timeout = cfg.timeoutMs || 60000;
  const browser = await chromium.launch({
    executablePath: cfg.chromium || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--use-gl=swiftshader'],
  });
  const result = { login: null, dashboards: [] };
  let exitCode = 0;
  try {
    const context = await browser.newContext({
      viewport: { width: cfg.width || 1920, height: cfg.height || 1080 },
      locale: cfg.locale || 'en-US',
    });
    const page = await context.newPage();
    page.setDefaultTimeout(timeout);

    result.login = await logIn(page, cfg, timeout);

    for (const dash of cfg.dashboards) {
      const charts = new Map();
      const errors = [];
      const onResponse = async (response) => {
        const url = response.url();
        if (!url.includes('/api/v1/chart/data') && !url.includes('/explore_json')) return;
        const sliceId = sliceIdOf(response.request());
        let body = null;
        try { body = await response.json(); } catch (e) { body = null; }
        const entry = { sliceId, status: response.status(), ...summarise(body),
          request: { method: response.request().method(), url, postData: response.request().postData() } };
        charts.set(sliceId === null ? `anon-${charts.size}` : sliceId, entry);
        if (response.status() >= 400) errors.push(entry);
      };
      if (dash.waitBeforeMs) {  // e.g. until Superset's data cache has expired: a cold-cache render
        await page.goto('about:blank');
        await page.waitForTimeout(dash.waitBeforeMs);
      }
      page.on('response', onResponse);
      const started = Date.now();
      await page.goto(`${cfg.baseUrl}${dash.path}`);
      await page.waitForSelector(CHART_HOLDER, { timeout });
      const expected = dash.expectCharts || 1;
      // every chart asked for its data and got an answer, then nothing is still loading
      const answered = () => [...charts.keys()].filter((key) => typeof key === 'number').length;
      while (answered() < expected) {
        if (Date.now() - started > timeout) throw new Error(`${dash.path}: only ${answered()}/${expected} charts answered`);
        await page.waitForTimeout(100);
      }
      await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 0, LOADING, { timeout });
      const renderMs = Date.now() - started;
      await page.waitForTimeout(dash.settleMs ?? 500);  // let the last canvas paint for the screenshot
      if (dash.screenshot) await page.screenshot({ path: dash.screenshot, fullPage: false });
      const text = await page.innerText('body');
      const errorTexts = await page.$$eval('[data-test="error-tooltip"], .ant-alert-error, [role="alert"]',
        (nodes) => nodes.map((n) => n.innerText.trim()).filter(Boolean));
      page.off('response', onResponse);
      result.dashboards.push({
        path: dash.path, renderMs, charts: [...charts.values()], errors, errorTexts, text,
        holders: await page.$$eval(CHART_HOLDER, (nodes) => nodes.length),
        canvases: await page.$$eval('canvas', (nodes) => nodes.length),
      });
    }
  } catch (error) {
    if (!(error instanceof LoginFailed)) throw error;
    result.login = error.report;
    exitCode = LOGIN_FAILED_EXIT;
    process.stderr.write(`render.js: ${error.message}\n`);
  } finally {
    await browser.close();
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exitCode = exitCode;
}

main().catch((error) => {
  process.stderr.write(`render.js: ${error.stack || error}\n`);
  process.exit(1);
});
