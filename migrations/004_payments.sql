-- Payments (common/payments.ts, common/settlement.ts, workers/payment-settler.ts).
--
-- One PaymentIntent per order: the provider's idempotency key is the order id, so every
-- retry and redelivery lands on the same intent. `status` is the latest known state of
-- that intent; a refund owed (a payment that succeeded for an order that is no longer
-- live) is `refund_status = 'pending'` until the provider confirms it.
CREATE TABLE IF NOT EXISTS payments (
  order_id          uuid PRIMARY KEY REFERENCES orders (order_id),
  payment_intent_id text UNIQUE,
  status            text NOT NULL CHECK (status IN ('requires_action', 'processing', 'succeeded',
                                                    'declined', 'canceled', 'failed')),
  amount_cents      bigint NOT NULL CHECK (amount_cents >= 0),
  currency          char(3) NOT NULL,
  attempts          integer NOT NULL DEFAULT 0,
  reason            text,
  next_action       jsonb,
  refund_status     text CHECK (refund_status IN ('pending', 'succeeded')),
  refund_id         text,
  refund_reason     text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS payments_refund_pending_idx ON payments (updated_at) WHERE refund_status = 'pending';

-- The settler's expiry sweep: orders still waiting for their payment, oldest first.
CREATE INDEX IF NOT EXISTS orders_pending_payment_idx ON orders (accepted_at) WHERE status = 'pending_payment';

-- Provider webhook events already handled (idempotency on the event id) and what each did.
CREATE TABLE IF NOT EXISTS payment_events (
  event_id          text PRIMARY KEY,
  type              text NOT NULL,
  payment_intent_id text,
  order_id          uuid,
  outcome           text NOT NULL,
  occurred_at       timestamptz NOT NULL,
  received_at       timestamptz NOT NULL DEFAULT now()
);

-- Messages a worker gave up on, with the reason; operators list, replay or discard them
-- (GET /v1/ops/dead-letters). The worker that owns `topic` carries out a replay.
CREATE TABLE IF NOT EXISTS dead_letters (
  dead_letter_id uuid PRIMARY KEY,
  topic          text NOT NULL,
  message_key    text,
  payload        jsonb NOT NULL,
  reason         text NOT NULL,
  attempts       integer NOT NULL,
  state          text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'replay_requested', 'replayed', 'discarded')),
  outcome        text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  resolved_at    timestamptz,
  resolved_by    uuid
);
CREATE INDEX IF NOT EXISTS dead_letters_state_idx ON dead_letters (state, created_at);
