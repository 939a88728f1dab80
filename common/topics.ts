/** The one home of Kafka topic and consumer-group names. */
export const TOPICS = {
  ordersAccepted: 'orders.accepted',
  /** Payment messages that failed after every attempt (key: orderId); see dead_letters. */
  paymentsDeadLetter: 'payments.dead-letter',
} as const;

export const GROUPS = {
  orderWriter: 'order-writer',
  paymentSettler: 'payment-settler',
} as const;
