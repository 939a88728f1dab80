/** The one home of Kafka topic and consumer-group names. */
export const TOPICS = {
  ordersAccepted: 'orders.accepted',
} as const;

export const GROUPS = {
  orderWriter: 'order-writer',
} as const;
