/**
 * Opens a report page in headless Chromium (Debian's `chromium`, driven by playwright-core) and reads back what
 * each uPlot chart holds, the console errors, and a full-page screenshot.
 */
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => !!p);

/** The Chromium binary, or undefined (tests then skip, saying so). */
export function findChromium(): string | undefined {
  return CANDIDATES.find((p) => existsSync(p));
}

export interface RenderedReport {
  errors: string[];
  /** Per chart id: the number of points each series drew (non-null y values in the uPlot instance). */
  points: Record<string, number[]>;
  canvases: number;
}

export async function openReport(executablePath: string, file: string, screenshot: string): Promise<RenderedReport> {
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    const points = await page.evaluate(() => {
      const charts = (globalThis as unknown as { ratchetCharts: Record<string, { data: (number | null)[][] }> }).ratchetCharts ?? {};
      return Object.fromEntries(Object.entries(charts).map(([id, u]) => [id, u.data.slice(1).map((s) => s.filter((v) => typeof v === 'number').length)]));
    });
    const canvases = await page.locator('figure.chart canvas').count();
    await page.screenshot({ path: screenshot, fullPage: true });
    return { errors, points, canvases };
  } finally {
    await browser.close();
  }
}
