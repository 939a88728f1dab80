/**
 * The /ops dashboard: admin login (POST /v1/users/login), then live figures over the
 * WebSocket /v1/ops/stream (one message a second) drawn with uPlot, and the flash-sale
 * controls (PATCH /v1/flash-sales/{id}: pause, resume, end now, add units). It reaches
 * the server only over HTTP and WebSocket; it shares the stats type, nothing else.
 */
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { RollingChart } from './charts.ts';
import type { OpsMessage, OpsStats, Outcome } from '../../edge/ops-types.ts';

const TOKEN_KEY = 'ops-token';
const OUTCOME_COLORS: Record<string, string> = {
  accepted: '#16a34a', 'sold-out': '#d97706', 'limit-exceeded': '#7c3aed', rejected: '#6b7280', '503 unavailable': '#dc2626',
};

const $ = <T extends HTMLElement = HTMLElement>(selector: string): T => {
  const el = document.querySelector<T>(selector);
  if (!el) throw new Error(`missing ${selector}`);
  return el;
};
const text = (selector: string, value: string) => { $(selector).textContent = value; };
const fmt = (n: number | null | undefined, digits = 0) => (n === null || n === undefined ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: digits }));

let token = sessionStorage.getItem(TOKEN_KEY) ?? '';
let socket: WebSocket | undefined;
let retryTimer: number | undefined;
let previous: OpsStats | undefined;
let charts: ReturnType<typeof makeCharts> | undefined;

function makeCharts() {
  return {
    orders: new RollingChart($('#chart-orders'), 'orders/s', 180, OUTCOME_COLORS),
    latency: new RollingChart($('#chart-latency'), 'ms'),
    lag: new RollingChart($('#chart-lag'), 'messages'),
    stock: new RollingChart($('#chart-stock'), 'units'),
    payments: new RollingChart($('#chart-payments'), 'payments/s'),
    drift: new RollingChart($('#chart-drift'), 'units'),
  };
}

function showLogin(message = ''): void {
  $('#login').hidden = false;
  $('#dashboard').hidden = true;
  $('#logout').hidden = true;
  text('#login-error', message);
}

function showDashboard(): void {
  $('#login').hidden = true;
  $('#dashboard').hidden = false;
  $('#logout').hidden = false;
  charts ??= makeCharts();
}

async function login(email: string, password: string): Promise<void> {
  const res = await fetch('/v1/users/login', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }),
  });
  const body = await res.json() as { token?: string; role?: string; detail?: string };
  if (res.status !== 200 || !body.token) throw new Error(body.detail ?? `login failed (${res.status})`);
  if (body.role !== 'admin') throw new Error('This dashboard is for admins');
  token = body.token;
  sessionStorage.setItem(TOKEN_KEY, token);
}

function connect(): void {
  window.clearTimeout(retryTimer);
  socket?.close();
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ops/stream`);
  socket = ws;
  ws.addEventListener('open', () => ws.send(JSON.stringify({ type: 'auth', token })));
  ws.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as OpsMessage;
    if (message.type === 'hello') setConnection(true);
    else if (message.type === 'stats') render(message.stats);
  });
  ws.addEventListener('close', (event) => {
    if (socket !== ws) return;
    setConnection(false);
    if (event.code === 4503) {
      const alarm = $('#alarm');
      alarm.dataset.state = 'warning';
      alarm.textContent = 'The edge records no figures (METRICS=off)';
      return;
    }
    if (event.code === 4401 || event.code === 4403) {
      sessionStorage.removeItem(TOKEN_KEY);
      token = '';
      showLogin(event.reason || 'Sign in again');
      return;
    }
    retryTimer = window.setTimeout(connect, 1_000);
  });
}

function setConnection(live: boolean): void {
  const badge = $('#connection');
  badge.dataset.state = live ? 'on' : 'off';
  badge.textContent = live ? 'live' : 'reconnecting…';
}

/** Per-second rate of each counter between two samples. */
function ratePerSecond(now: Record<string, number>, before: Record<string, number> | undefined, seconds: number): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const [key, value] of Object.entries(now)) {
    out[key] = before === undefined || seconds <= 0 ? null : Math.max(0, value - (before[key] ?? 0)) / seconds;
  }
  return out;
}

function render(stats: OpsStats): void {
  const t = Date.parse(stats.at) / 1000;
  const seconds = previous ? t - Date.parse(previous.at) / 1000 : 0;
  renderFigures(stats);
  renderAlarm(stats);
  renderHealth(stats);
  renderSales(stats);
  renderKafka(stats);
  renderDriftAndPayments(stats);
  if (charts) {
    const orders = ratePerSecond(stats.orders.totals, previous?.orders.totals, seconds);
    charts.orders.push(t, Object.fromEntries((Object.keys(stats.orders.totals) as Outcome[]).map((o) =>
      [o === 'unavailable' ? '503 unavailable' : o, orders[o] ?? null])));
    charts.latency.push(t, {
      'orders p50': stats.orders.latencyMs.p50, 'orders p99': stats.orders.latencyMs.p99, 'Kafka send p99': stats.kafka.produceLatencyMs.p99,
    });
    const lag: Record<string, number> = {};
    for (const g of stats.kafka.groups) for (const p of g.partitions) lag[`${g.group} ${p.topic}/${p.partition}`] = p.lag;
    charts.lag.push(t, lag);
    charts.stock.push(t, Object.fromEntries(stats.flashSales.map((s) => [`sale ${s.flashSaleId.slice(0, 8)}`, s.remaining])));
    charts.payments.push(t, ratePerSecond(stats.payments.totals, previous?.payments.totals, seconds));
    charts.drift.push(t, { 'total |drift|': stats.drift.totalAbs, ...Object.fromEntries(stats.drift.products.slice(0, 5).map((d) => [d.productId.slice(0, 8), d.drift])) });
  }
  previous = stats;
}

function renderFigures(stats: OpsStats): void {
  text('[data-testid="accepted-total"]', fmt(stats.orders.totals.accepted));
  text('[data-testid="accept-rate"]', fmt(stats.orders.acceptRate['10s'], 1));
  text('[data-testid="reject-rate"]', fmt(stats.orders.rejectRate['10s'], 1));
  text('[data-testid="latency"]', `${fmt(stats.orders.latencyMs.p50, 1)} / ${fmt(stats.orders.latencyMs.p99, 1)}`);
  text('[data-testid="reservations"]', stats.reservations ? fmt(stats.reservations.openUnits) : '–');
  text('[data-testid="lag-total"]', fmt(stats.kafka.groups.reduce((sum, g) => sum + g.lag, 0)));
}

function renderAlarm(stats: OpsStats): void {
  const alarm = $('#alarm');
  const level = stats.alarms.some((a) => a.level === 'critical') ? 'critical' : stats.alarms.length > 0 ? 'warning' : 'ok';
  alarm.dataset.state = level;
  alarm.textContent = level === 'ok' ? 'All clear' : stats.alarms.map((a) => `${a.level.toUpperCase()}: ${a.message}`).join(' · ');
}

function badges(list: HTMLElement, items: { label: string; state: string; title?: string }[]): void {
  list.replaceChildren(...items.map((item) => {
    const li = document.createElement('li');
    li.dataset.state = item.state;
    li.textContent = item.label;
    if (item.title) li.title = item.title;
    return li;
  }));
}

function renderHealth(stats: OpsStats): void {
  badges($('#dependencies'), Object.entries(stats.dependencies).map(([name, state]) => ({ label: `${name}: ${state}`, state })));
  badges($('#processes'), stats.processes.map((p) => ({
    label: `${p.process} (loop lag ${fmt(p.eventLoopLagMs, 1)} ms)`, state: p.ageMs > 5_000 ? 'stale' : 'up', title: p.instance,
  })));
}

function cell(row: HTMLTableRowElement, index: number): HTMLTableCellElement {
  while (row.cells.length <= index) row.insertCell();
  return row.cells[index]!;
}

function renderSales(stats: OpsStats): void {
  const body = $('#sales').querySelector('tbody')!;
  const seen = new Set<string>();
  for (const sale of stats.flashSales) {
    seen.add(sale.flashSaleId);
    let row = body.querySelector<HTMLTableRowElement>(`tr[data-sale-id="${sale.flashSaleId}"]`);
    if (!row) {
      row = body.insertRow();
      row.dataset.saleId = sale.flashSaleId;
      cell(row, 0).textContent = sale.flashSaleId.slice(0, 8);
      cell(row, 0).title = sale.flashSaleId;
      cell(row, 1).textContent = sale.productId.slice(0, 8);
      cell(row, 1).title = sale.productId;
      cell(row, 3).dataset.testid = `sale-remaining-${sale.flashSaleId}`;
      cell(row, 2).dataset.testid = `sale-status-${sale.flashSaleId}`;
      cell(row, 7).append(saleControls(sale.flashSaleId));
    }
    cell(row, 2).textContent = sale.status;
    cell(row, 3).textContent = fmt(sale.remaining);
    cell(row, 4).textContent = `${fmt(sale.sold)} / ${fmt(sale.quantity)}`;
    cell(row, 5).innerHTML = `<span class="sell" aria-label="${Math.round(sale.sellThrough * 100)}% sold"><span style="width:${Math.round(sale.sellThrough * 100)}%"></span></span> ${Math.round(sale.sellThrough * 100)}%`;
    cell(row, 6).textContent = new Date(sale.endsAt).toLocaleTimeString();
    row.dataset.quantity = String(sale.quantity);
    row.querySelector<HTMLButtonElement>('button[data-action="pause"]')!.disabled = sale.status !== 'live';
    row.querySelector<HTMLButtonElement>('button[data-action="resume"]')!.disabled = sale.status !== 'paused';
  }
  for (const row of [...body.rows]) if (!seen.has(row.dataset.saleId ?? '')) row.remove();
}

function saleControls(flashSaleId: string): HTMLElement {
  const box = document.createElement('div');
  box.className = 'ops-controls';
  const button = (label: string, action: string, run: () => Promise<void>) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.dataset.action = action;
    b.setAttribute('aria-label', `${label} sale ${flashSaleId.slice(0, 8)}`);
    b.addEventListener('click', () => { void run(); });
    return b;
  };
  const units = document.createElement('input');
  units.type = 'number';
  units.min = '1';
  units.value = '10';
  units.setAttribute('aria-label', `Units to add to sale ${flashSaleId.slice(0, 8)}`);
  box.append(
    button('Pause', 'pause', () => patchSale(flashSaleId, { status: 'paused' })),
    button('Resume', 'resume', () => patchSale(flashSaleId, { status: 'live' })),
    button('End now', 'end', async () => {
      if (confirm('End this sale now? Unsold units go back to stock.')) await patchSale(flashSaleId, { status: 'ended' });
    }),
    units,
    button('Add units', 'add', async () => {
      const row = box.closest('tr')!;
      const add = Number(units.value);
      if (!Number.isInteger(add) || add <= 0) {
        text('#sale-message', 'Units to add must be a whole number above 0');
        return;
      }
      await patchSale(flashSaleId, { quantity: Number(row.dataset.quantity) + add });
    }),
  );
  return box;
}

async function patchSale(flashSaleId: string, change: Record<string, unknown>): Promise<void> {
  const res = await fetch(`/v1/flash-sales/${flashSaleId}`, {
    method: 'PATCH', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(change),
  });
  const body = await res.json().catch(() => ({})) as { detail?: string };
  text('#sale-message', res.ok ? `Sale ${flashSaleId.slice(0, 8)}: ${JSON.stringify(change)} done` : `Sale ${flashSaleId.slice(0, 8)}: ${res.status} ${body.detail ?? ''}`);
}

function renderKafka(stats: OpsStats): void {
  const rows = stats.kafka.groups.flatMap((g) => g.partitions.map((p) => [g.group, p.topic, String(p.partition),
    fmt(p.logEndOffset), fmt(p.committedOffset), p.lag] as const));
  $('#kafka').querySelector('tbody')!.replaceChildren(...rows.map((r) => {
    const tr = document.createElement('tr');
    r.forEach((value, i) => {
      const td = tr.insertCell();
      td.textContent = typeof value === 'number' ? fmt(value) : value;
      if (i === 5 && typeof value === 'number' && value > 0) td.className = 'lag-high';
    });
    return tr;
  }));
}

function renderDriftAndPayments(stats: OpsStats): void {
  const drift = stats.drift.products.length > 0
    ? stats.drift.products.map((d) => [d.productId, fmt(d.drift)])
    : [['every product', '0']];
  $('#drift').querySelector('tbody')!.replaceChildren(...drift.map((r) => row(r)));
  const payments = Object.entries(stats.payments.totals).map(([k, v]) => [k, fmt(v), fmt(stats.payments.perSecond[k], 2)]);
  $('#payments').querySelector('tbody')!.replaceChildren(...(payments.length > 0 ? payments : [['no payments yet', '', '']]).map((r) => row(r)));
}

function row(values: readonly string[]): HTMLTableRowElement {
  const tr = document.createElement('tr');
  for (const v of values) tr.insertCell().textContent = v;
  return tr;
}

function start(): void {
  $('#login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    login($<HTMLInputElement>('#email').value, $<HTMLInputElement>('#password').value)
      .then(() => { showDashboard(); connect(); })
      .catch((error: unknown) => showLogin((error as Error).message));
  });
  $('#logout').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    token = '';
    const ws = socket;
    socket = undefined;
    ws?.close();
    showLogin();
  });
  if (token) {
    showDashboard();
    connect();
  } else {
    showLogin();
  }
}

start();
