/**
 * Dead letters for operators: messages a worker gave up on, with the reason.
 *   GET  /v1/ops/dead-letters?state=open|replay_requested|replayed|discarded&topic=&page=&limit=
 *   POST /v1/ops/dead-letters/{id}/replay   asks the worker that owns the topic to process it again
 *                                           (the payment settler for payments.dead-letter)
 *   POST /v1/ops/dead-letters/{id}/discard  closes it without processing
 */
import type { Router } from '../http.js';
import type { EdgeDeps } from '../deps.js';
import { problems } from '../problems.js';
import { pageParams, uuidParam } from '../params.js';

const STATES = ['open', 'replay_requested', 'replayed', 'discarded'] as const;

const COLUMNS = `dead_letter_id AS "deadLetterId", topic, message_key AS "key", reason, attempts, state, outcome,
  created_at AS "createdAt", resolved_at AS "resolvedAt", resolved_by AS "resolvedBy"`;

export function deadLetterRoutes(router: Router, deps: EdgeDeps): void {
  router.get('/v1/ops/dead-letters', {
    summary: 'Dead-lettered messages with their reason (filter by state, topic)',
    access: ['admin'],
    handler: async (ctx) => {
      const state = ctx.query.get('state') || null;
      if (state !== null && !(STATES as readonly string[]).includes(state)) throw problems.badField('state', `must be one of ${STATES.join(', ')}`);
      const topic = ctx.query.get('topic') || null;
      const { limit, offset, page } = pageParams(ctx);
      const filter = 'WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR topic = $2)';
      const [list, count] = await Promise.all([
        deps.pool.query(`SELECT ${COLUMNS}, payload FROM dead_letters ${filter} ORDER BY created_at DESC, dead_letter_id LIMIT $3 OFFSET $4`,
          [state, topic, limit, offset]),
        deps.pool.query<{ total: number }>(`SELECT count(*)::int AS total FROM dead_letters ${filter}`, [state, topic]),
      ]);
      return { status: 200, body: { deadLetters: list.rows, page, limit, total: count.rows[0]?.total ?? 0 } };
    },
  });

  const resolve = (action: 'replay' | 'discard', to: 'replay_requested' | 'discarded', from: readonly string[], summary: string) =>
    router.post(`/v1/ops/dead-letters/:deadLetterId/${action}`, {
      summary,
      access: ['admin'],
      handler: async (ctx) => {
        const id = uuidParam(ctx, 'deadLetterId');
        const { rows } = await deps.pool.query(
          `UPDATE dead_letters SET state = $2, resolved_by = $3, resolved_at = CASE WHEN $2 = 'discarded' THEN now() END
            WHERE dead_letter_id = $1 AND state = ANY($4::text[]) RETURNING ${COLUMNS}`, [id, to, ctx.user!.userId, from]);
        if (rows[0]) return { status: action === 'replay' ? 202 : 200, body: { success: true, deadLetter: rows[0] } };
        const current = await deps.pool.query<{ state: string }>('SELECT state FROM dead_letters WHERE dead_letter_id = $1', [id]);
        if (!current.rows[0]) throw problems.notFound(`Dead letter ${id}`);
        throw problems.conflict('dead-letter-closed', 'Dead letter already handled',
          `This dead letter is ${current.rows[0].state}; only ${from.join(' or ')} ones can be ${action === 'replay' ? 'replayed' : 'discarded'}`,
          { deadLetterId: id, state: current.rows[0].state });
      },
    });
  resolve('replay', 'replay_requested', ['open'], 'Process a dead letter again (its worker carries it out; the outcome is recorded)');
  resolve('discard', 'discarded', ['open', 'replay_requested'], 'Close a dead letter without processing it');
}
