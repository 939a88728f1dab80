/** A rolling time-series chart on uPlot: push one point per sample; new series appear as they show up. */
import uPlot from 'uplot';

const COLORS = ['#2563eb', '#dc2626', '#d97706', '#7c3aed', '#059669', '#db2777', '#0891b2', '#65a30d', '#4b5563', '#ea580c'];

export class RollingChart {
  private plot: uPlot | undefined;
  private keys: string[] = [];
  private readonly x: number[] = [];
  private readonly ys = new Map<string, (number | null)[]>();

  constructor(private readonly el: HTMLElement, private readonly unit: string, private readonly points = 180,
    private readonly fixedColors: Record<string, string> = {}) {
    window.addEventListener('resize', () => this.plot?.setSize(this.size()));
  }

  push(tSeconds: number, values: Record<string, number | null>): void {
    for (const key of Object.keys(values)) {
      if (!this.ys.has(key)) this.ys.set(key, this.x.map(() => null));
    }
    this.x.push(tSeconds);
    for (const [key, series] of this.ys) series.push(values[key] ?? null);
    if (this.x.length > this.points) {
      this.x.shift();
      for (const series of this.ys.values()) series.shift();
    }
    const keys = [...this.ys.keys()];
    if (!this.plot || keys.join('\n') !== this.keys.join('\n')) this.rebuild(keys);
    else this.plot.setData(this.data());
  }

  private size(): { width: number; height: number } {
    return { width: Math.max(280, this.el.clientWidth), height: 180 };
  }

  private data(): uPlot.AlignedData {
    return [this.x, ...this.keys.map((k) => this.ys.get(k)!)];
  }

  private rebuild(keys: string[]): void {
    this.plot?.destroy();
    this.keys = keys;
    this.plot = new uPlot({
      ...this.size(),
      legend: { show: true },
      scales: { x: { time: true } },
      axes: [{}, { label: this.unit, size: 60 }],
      series: [{}, ...keys.map((label, i) => ({ label, stroke: this.fixedColors[label] ?? COLORS[i % COLORS.length], width: 2, spanGaps: false }))],
    }, this.data(), this.el);
  }
}
