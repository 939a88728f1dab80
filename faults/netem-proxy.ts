/**
 * A TCP proxy that can make its link slow and lossy, standing in for `tc qdisc netem`
 * where the kernel has no queueing disciplines (faults/network.ts says why and how it
 * is wired into a network namespace).
 *
 *   node dist/faults/netem-proxy.js --pair LISTEN_HOST:PORT=TARGET_HOST:PORT [--pair …]
 *                                   [--delay 100-300] [--loss 0.05]
 *
 * While impaired (SIGUSR1 on, SIGUSR2 off; off at start), every chunk in either direction
 * waits a uniform random delay in the range, in order (a chunk never overtakes the one
 * before it); with probability `loss` a chunk is "lost" and comes only after a TCP
 * retransmission timeout (200 ms doubling, as Linux's minimum RTO, up to three times):
 * what 5 % packet loss looks like to the application above TCP.
 */
import { createServer, connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { pair: { type: 'string', multiple: true }, delay: { type: 'string', default: '100-300' }, loss: { type: 'string', default: '0.05' } } });
const [low, high] = (values.delay ?? '100-300').split('-').map(Number) as [number, number];
const loss = Number(values.loss);
let impaired = false;
process.on('SIGUSR1', () => { impaired = true; process.stderr.write('netem proxy: impaired\n'); });
process.on('SIGUSR2', () => { impaired = false; process.stderr.write('netem proxy: clear\n'); });
process.on('SIGTERM', () => process.exit(0));

function extraDelay(): number {
  if (!impaired) return 0;
  let delay = low + Math.random() * (Math.max(high, low) - low);
  for (let rto = 200; rto <= 800 && Math.random() < loss; rto *= 2) delay += rto;
  return delay;
}

/**
 * Copies `from` to `to`, each chunk held for its delay and never ahead of the one before:
 * one queue per direction, drained in order by one timer (timers of different lengths that
 * come due together do not keep their order, and a TCP stream must).
 */
function pipeDelayed(from: Socket, to: Socket): void {
  const queue: { at: number; action: () => void }[] = [];
  let timer: NodeJS.Timeout | undefined;
  let lastAt = 0;
  const drain = () => {
    timer = undefined;
    while (queue.length > 0 && queue[0]!.at <= Date.now()) queue.shift()!.action();
    if (queue.length > 0) timer = setTimeout(drain, queue[0]!.at - Date.now());
  };
  const later = (action: () => void) => {
    lastAt = Math.max(lastAt, Date.now() + extraDelay());
    queue.push({ at: lastAt, action });
    if (!timer) drain();
  };
  let ended = false;
  from.on('data', (chunk) => later(() => { if (!to.destroyed) to.write(chunk); }));
  from.on('end', () => { ended = true; later(() => to.end()); });
  from.on('close', () => { if (!ended) later(() => to.destroy()); }); // reset: pass it on
  from.on('error', () => undefined);
}

let listening = 0;
const pairs = values.pair ?? [];
for (const pair of pairs) {
  const [listen, target] = pair.split('=') as [string, string];
  const [listenHost, listenPort] = listen.split(':') as [string, string];
  const [targetHost, targetPort] = target.split(':') as [string, string];
  const server = createServer((client) => {
    const upstream = connect(Number(targetPort), targetHost);
    pipeDelayed(client, upstream);
    pipeDelayed(upstream, client);
  });
  server.listen(Number(listenPort), listenHost, () => {
    if (++listening === pairs.length) process.stderr.write(`netem proxy listening (${pairs.join(', ')})\n`);
  });
}
