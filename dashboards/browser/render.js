// Renders Superset dashboards in Debian's headless Chromium (playwright-core, executablePath):
// logs in through the login form, opens each dashboard, waits until every chart's data request has
// answered and no chart is still loading, saves a screenshot and prints one JSON line with what it saw.
//
// Usage: node render.js '<json>' where json = {baseUrl, username, password, dashboards: [{path,
// expectCharts, screenshot, waitBeforeMs}], chromium, width, height, timeoutMs, locale}
'use strict';
const { chromium } = require('playwright-core');

const LOADING = '[data-test="loading-indicator"], .loading';
const CHART_HOLDER = '[data-test-chart-id], .dashboard-chart';

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
  try {
    const context = await browser.newContext({
      viewport: { width: cfg.width || 1920, height: cfg.height || 1080 },
      locale: cfg.locale || 'en-US',
    });
    const page = await context.newPage();
    page.setDefaultTimeout(timeout);

    const loginStarted = Date.now();
    await page.goto(`${cfg.baseUrl}/login/`);
    await page.fill('input#username, input[name="username"]', cfg.username);
    await page.fill('input#password, input[name="password"]', cfg.password);
    await Promise.all([
      page.waitForURL((url) => !url.pathname.startsWith('/login'), { timeout }),
      page.click('button[type="submit"], [data-test="login-button"]'),
    ]);
    result.login = { ok: true, ms: Date.now() - loginStarted, url: page.url() };

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
  } finally {
    await browser.close();
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error) => {
  process.stderr.write(`render.js: ${error.stack || error}\n`);
  process.exit(1);
});
