/**
 * A slow, lossy network between the edge and Redis or Kafka. The edge runs in a network
 * namespace of its own, joined to the host by a veth pair; its Redis, Kafka and Postgres
 * addresses (127.0.0.1:port, as everywhere, and as Kafka advertises itself) lead, inside
 * the namespace, to a forwarder that crosses the veth to the host, where one proxy per
 * service passes the bytes on and, when told, delays and "loses" them:
 *
 *   load ──► 10.X.Y.2:edge   [namespace: edge ─► 127.0.0.1:port ─► forwarder ─► 10.X.Y.1:port]
 *            ──veth──►  [host: netem proxy (redis | kafka | pg) ─► 127.0.0.1:port ─► the service]
 *
 * `tc qdisc … netem` would impair the veth itself, but this kernel has no queueing
 * disciplines at all (`tc qdisc add … netem` and even `prio` answer "Specified qdisc kind
 * is unknown"; there is no module to load), so the impairment is faults/netem-proxy.ts:
 * 100–300 ms per chunk each way and 5 % of chunks late by a TCP retransmission timeout.
 * Only the edge's own traffic crosses it; the workers keep their direct path.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { ROOT, RunningProcess, serviceEnv } from '../test/support/processes.js';
import { ARTIFACTS, log } from './stack.js';

function ip(...args: string[]): void {
  const out = spawnSync('ip', args, { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`ip ${args.join(' ')}: ${out.stderr.trim()}`);
}

/** Whether this machine can run the lab: `ip netns` works (root, iproute2). */
export function netnsAvailable(): string | undefined {
  const probe = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return `ip netns is not available: ${probe.error?.message ?? probe.stderr.trim()}`;
  return undefined;
}

/** Whether tc netem works here (it does not on this kernel; the lab uses the proxy either way). */
export function netemAvailable(): boolean {
  const out = spawnSync('tc', ['qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms'], { encoding: 'utf8' });
  if (out.status === 0) spawnSync('tc', ['qdisc', 'del', 'dev', 'lo', 'root']);
  return out.status === 0;
}

const portOf = (url: string): string => /:(\d+)(?:\/|$)/.exec(url)![1]!;

export type Link = 'redis' | 'kafka';

export class NetemLab {
  private readonly children: ChildProcess[] = [];
  private readonly proxies = new Map<Link | 'pg', ChildProcess>();
  edge: RunningProcess | undefined;
  readonly baseUrl: string;

  private constructor(private readonly ns: string, private readonly hostIp: string, private readonly nsIp: string, private readonly edgePort: number) {
    this.baseUrl = `http://${nsIp}:${edgePort}`;
  }

  /** Namespace, veth, forwarder, proxies and an edge inside: named after this run's Redis port, so runs side by side do not meet. */
  static async create(edgeEnv: Record<string, string>): Promise<NetemLab> {
    const tag = process.env.REDIS_PORT ?? '6396';
    const subnet = `10.${200 + (Number(tag) % 50)}.${Math.floor(Number(tag) / 50) % 250}`;
    const lab = new NetemLab(`fsf${tag}`, `${subnet}.1`, `${subnet}.2`, 18_080);
    lab.teardownNetwork(); // leftovers of an interrupted run
    try {
      await lab.build(edgeEnv);
    } catch (error) {
      await lab.destroy();
      throw error;
    }
    log(`netem lab: edge in namespace ${lab.ns} at ${lab.baseUrl}; redis, kafka and postgres through proxies on ${lab.hostIp}`);
    return lab;
  }

  private async build(edgeEnv: Record<string, string>): Promise<void> {
    ip('netns', 'add', this.ns);
    ip('link', 'add', `${this.ns}a`, 'type', 'veth', 'peer', 'name', `${this.ns}b`);
    ip('link', 'set', `${this.ns}b`, 'netns', this.ns);
    ip('addr', 'add', `${this.hostIp}/30`, 'dev', `${this.ns}a`);
    ip('link', 'set', `${this.ns}a`, 'up');
    ip('netns', 'exec', this.ns, 'ip', 'addr', 'add', `${this.nsIp}/30`, 'dev', `${this.ns}b`);
    ip('netns', 'exec', this.ns, 'ip', 'link', 'set', `${this.ns}b`, 'up');
    ip('netns', 'exec', this.ns, 'ip', 'link', 'set', 'lo', 'up');

    const ports = { redis: portOf(process.env.REDIS_URL!), kafka: portOf(process.env.KAFKA_BROKERS!), pg: portOf(process.env.DATABASE_URL!) };
    const proxy = join(ROOT, 'dist', 'faults', 'netem-proxy.js');
    const ready = (child: ChildProcess) => new Promise<void>((resolve, reject) => {
      let said = '';
      child.stderr!.on('data', (chunk: Buffer) => { said += chunk.toString(); if (/listening/.test(said)) resolve(); });
      child.on('exit', (code) => reject(new Error(`netem proxy exited (${code}): ${said.slice(-500)}`)));
    });
    for (const [name, port] of Object.entries(ports) as [Link | 'pg', string][]) {
      const child = spawn(process.execPath, [proxy, '--pair', `${this.hostIp}:${port}=127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
      this.children.push(child);
      this.proxies.set(name, child);
      await ready(child);
    }
    const forwarder = spawn('ip', ['netns', 'exec', this.ns, process.execPath, proxy, ...Object.values(ports).flatMap((port) => ['--pair', `127.0.0.1:${port}=${this.hostIp}:${port}`])],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    this.children.push(forwarder);
    await ready(forwarder);

    const edge = spawn('ip', ['netns', 'exec', this.ns, process.execPath, join(ROOT, 'dist', 'edge', 'main.js')], {
      cwd: ROOT, env: { ...process.env, ...serviceEnv(), ...edgeEnv, PORT: String(this.edgePort), HOST: '0.0.0.0' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.push(edge);
    const logFile = createWriteStream(join(ARTIFACTS, 'logs', 'edge-netns.log'));
    for (const source of [edge.stdout, edge.stderr]) source?.on('data', (chunk: Buffer) => logFile.write(chunk));
    edge.on('exit', () => logFile.end());
    this.edge = new RunningProcess('edge', edge);
    await this.edge.waitFor(/edge listening/, 120_000);
  }

  /** Makes the link to Redis or Kafka slow and lossy (on) or clear again (off). */
  impair(link: Link, on: boolean): void {
    this.proxies.get(link)!.kill(on ? 'SIGUSR1' : 'SIGUSR2');
  }

  async destroy(): Promise<void> {
    for (const child of this.children.reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.on('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    this.teardownNetwork();
  }

  private teardownNetwork(): void {
    spawnSync('ip', ['link', 'del', `${this.ns}a`]);
    spawnSync('ip', ['netns', 'del', this.ns]);
  }
}
