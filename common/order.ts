/**
 * The order as it travels: the message the edge makes durable in Kafka, and the
 * one home of the order state machine.
 */
export const ORDER_STATUSES = [
  'accepted', 'pending_payment', 'paid', 'confirmed', 'shipped', 'delivered',
  'failed', 'cancelled', 'expired',
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

const TRANSITIONS: Record<OrderStatus, readonly OrderStatus[]> = {
  accepted: ['pending_payment', 'expired', 'failed', 'cancelled'],
  pending_payment: ['paid', 'failed', 'cancelled', 'expired'],
  paid: ['confirmed', 'cancelled'],
  confirmed: ['shipped', 'cancelled'],
  shipped: ['delivered'],
  delivered: [],
  failed: [],
  cancelled: [],
  expired: [],
};

export function canTransition(from: OrderStatus, to: OrderStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Statuses whose units count against stock (invariant 1). */
export const LIVE_STATUSES: readonly OrderStatus[] = ORDER_STATUSES.filter(
  (s) => s !== 'failed' && s !== 'cancelled' && s !== 'expired',
);

export function isLive(status: OrderStatus): boolean {
  return LIVE_STATUSES.includes(status);
}

/** Statuses whose payment has been taken (a cancellation refunds it). */
export const PAID_STATUSES: readonly OrderStatus[] = ['paid', 'confirmed', 'shipped', 'delivered'];

export interface OrderLine {
  productId: string;
  quantity: number;
  unitPriceCents: number;
  /** The flash sale the units came from, or null for ordinary stock. */
  flashSaleId: string | null;
}

export interface ShippingAddress {
  name: string;
  line1: string;
  line2?: string;
  city: string;
  region?: string;
  postalCode: string;
  country: string;
}

/** Value of a message on the accepted-orders topic (key: orderId). */
export interface AcceptedOrder {
  orderId: string;
  userId: string;
  items: OrderLine[];
  totalCents: number;
  currency: string;
  paymentMethod: string;
  shippingAddress: ShippingAddress;
  acceptedAt: string;
}
