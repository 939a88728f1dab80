/**
 * Postgres under load: restarted (stopped for 5 s, started), and paused mid-batch
 * (SIGSTOP of the postmaster and every backend for 10 s, then SIGCONT). Orders keep
 * being accepted (no Postgres on the order path); the order writer retries and commits
 * its offsets only after the database commits: nothing lost or doubled.
 */
import { processTree, service, servicePid, sleep } from './stack.js';
import { backlogPersisted, faultWindow, type RowSpec } from './row.js';

function signalAll(pids: number[], signal: 'SIGSTOP' | 'SIGCONT'): void {
  for (const pid of pids) try { process.kill(pid, signal); } catch { /* exited meanwhile */ }
}

export const postgresRows: RowSpec[] = [
  {
    id: 'pg-restart', family: 'postgres', fault: 'Postgres stopped for 5 s, started',
    command: 'bash infra/services.sh pg-stop; sleep 5; bash infra/services.sh pg-start',
    inject: (ctx) => faultWindow(ctx, async () => {
      await service('pg-stop');
      await sleep(5_000);
    }, () => service('pg-start')),
    recovered: backlogPersisted,
  },
  {
    id: 'pg-pause', family: 'postgres', fault: 'Postgres frozen (SIGSTOP, postmaster and backends) for 10 s mid-batch',
    command: 'kill -STOP <postmaster and its children>; sleep 10; kill -CONT <the same>',
    inject(ctx) {
      const pids = processTree(servicePid('postgres'));
      return faultWindow(ctx, async () => {
        signalAll(pids, 'SIGSTOP');
        await sleep(10_000);
      }, () => Promise.resolve(signalAll(pids, 'SIGCONT')));
    },
    recovered: backlogPersisted,
  },
];
