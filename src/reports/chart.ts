// Geometry for the server-rendered bar chart (views/partials/chart.eta). Everything is SVG
// attributes, never style, so the strict CSP needs no exception; no chart library runs in the browser.

export interface ChartPoint {
  /** YYYY-MM-DD */
  day: string;
  value: number;
}

export interface Bar {
  x: number;
  y: number;
  width: number;
  height: number;
  day: string;
  value: number;
}

export interface BarChart {
  width: number;
  height: number;
  /** The plot's top and bottom edges, for the axis. */
  top: number;
  bottom: number;
  left: number;
  right: number;
  max: number;
  bars: Bar[];
  /** Gridlines with their value labels. */
  ticks: Array<{ y: number; value: number }>;
  /** Day labels under some bars (first, every seventh, last). */
  labels: Array<{ x: number; text: string }>;
}

const WIDTH = 640;
const HEIGHT = 220;
const PAD = { top: 12, right: 8, bottom: 28, left: 56 };

/** A "nice" ceiling (1, 2 or 5 times a power of ten) so the gridlines fall on round numbers. */
export function niceMax(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 5, 10].find((m) => m * power >= value)!;
  return step * power;
}

export function barChart(points: ChartPoint[]): BarChart {
  const max = niceMax(Math.max(0, ...points.map((p) => p.value)));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, points.length);
  const bottom = PAD.top + plotH;
  const round = (n: number) => Math.round(n * 10) / 10;
  const bars = points.map((p, i) => {
    const h = (p.value / max) * plotH;
    // A spent-something day never disappears: at least one pixel tall.
    const height = p.value > 0 ? Math.max(1, h) : 0;
    return { x: round(PAD.left + i * slot + slot * 0.15), y: round(bottom - height), width: round(slot * 0.7), height: round(height), day: p.day, value: p.value };
  });
  const ticks = [0, 0.5, 1].map((f) => ({ y: round(bottom - f * plotH), value: Math.round(max * f) }));
  const labels = points
    .map((p, i) => ({ i, x: round(PAD.left + i * slot + slot / 2), text: p.day.slice(5) }))
    // Every 7th day back from the last; the first day too when it is not crowded against the next label.
    .filter(({ i }) => (points.length - 1 - i) % 7 === 0 || (i === 0 && (points.length - 1) % 7 >= 4))
    .map(({ x, text }) => ({ x, text }));
  return { width: WIDTH, height: HEIGHT, top: PAD.top, bottom, left: PAD.left, right: WIDTH - PAD.right, max, bars, ticks, labels };
}

/** The chart of balance tokens charged per day. */
export function chargeChart(daily: Array<{ day: string; charge: number }>): BarChart {
  return barChart(daily.map((d) => ({ day: d.day, value: d.charge })));
}
