/**
 * The shapes of the HTTP contract (API.md) the storefront reads and sends. Types only:
 * the browser bundle shares the contract with the server, never its code.
 */

export interface FieldError { field: string; message: string }

/** RFC 9457 problem details, as every error of the API comes. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldError[];
  [extra: string]: unknown;
}

export type Role = 'customer' | 'seller' | 'admin';

export interface Session { token: string; userId: string; role: Role; email: string }

/** An image or video as the product detail lists it (a plain URL in older data). */
export type MediaEntry = string | { mediaId?: string; url: string; contentType?: string; bytes?: number };

export interface ProductSummary {
  productId: string;
  name: string;
  priceCents: number;
  currency: string;
  category: string;
  sellerId: string;
  rating: number | null;
  reviewCount: number;
  images: MediaEntry[];
}

export interface Product extends ProductSummary {
  description: string;
  attributes: Record<string, unknown>;
  videos?: MediaEntry[];
  available: number;
  flashSaleId: string | null;
}

export interface CategoryFacet { category: string; count: number }
export interface PriceBandFacet { band: string; minPriceCents: number; maxPriceCents: number | null; count: number }

export interface SearchPage {
  products: ProductSummary[];
  page: number;
  limit: number;
  total: number;
  sort: string;
  fuzzy: boolean;
  correctedQuery: string | null;
  facets: { categories: CategoryFacet[]; priceBands: PriceBandFacet[] };
}

export type SaleStatus = 'upcoming' | 'live' | 'paused' | 'ended';

export interface FlashSale {
  flashSaleId: string;
  productId: string;
  status: SaleStatus;
  quantity: number;
  remaining: number;
  perUserLimit: number;
  priceCents: number;
  startsAt: string;
  endsAt: string;
  serverTime: string;
}

export interface Review {
  reviewId: string;
  author: string;
  rating: number;
  title: string;
  body: string;
  verifiedPurchase: boolean;
  createdAt: string;
}

export interface ReviewPage { rating: number | null; reviewCount: number; reviews: Review[]; page: number; limit: number; total: number }

export interface CartLine { productId: string; quantity: number }

export interface PricedLine extends CartLine {
  name: string | null;
  unitPriceCents: number | null;
  currency: string | null;
  lineTotalCents: number;
  available: number;
  flashSaleId: string | null;
  purchasable: boolean;
}

export interface PricedCart { cartId: string | null; items: PricedLine[]; totalCents: number; currency: string | null }

export interface ShippingAddress {
  name: string; line1: string; line2?: string; city: string; region?: string; postalCode: string; country: string;
}

export interface OrderRequest {
  items?: CartLine[];
  cartId?: string;
  paymentMethod: string;
  shippingAddress: ShippingAddress;
}

export type OrderStatus =
  | 'accepted' | 'pending_payment' | 'paid' | 'confirmed' | 'shipped' | 'delivered' | 'failed' | 'cancelled' | 'expired';

export interface Order {
  orderId: string;
  status: OrderStatus;
  totalCents: number;
  currency: string;
  acceptedAt: string;
  items: { productId: string; quantity: number; unitPriceCents: number; flashSaleId: string | null }[] | null;
  history: { status: OrderStatus; at: string; reason: string | null }[] | null;
  paymentStatus: string | null;
  trackingNumber: string | null;
  shippingAddress?: ShippingAddress;
}

export interface OrderSummary { orderId: string; status: OrderStatus; totalCents: number; currency: string; acceptedAt: string }

export interface Warehouse { warehouseId: string; name: string; stock: number; reserved: number; available: number }

export interface Inventory { productId: string; stock: number; reserved: number; available: number; warehouses: Warehouse[] }

export interface MediaUploadStart {
  mediaId: string; uploadUrl: string; expiresAt: string; totalBytes: number; chunkBytes: number; maxChunkBytes: number; status: string;
}

export interface UploadProgress {
  mediaId: string; status: 'pending' | 'ready' | 'failed'; receivedBytes: number; totalBytes: number; url: string | null; failure?: string | null;
}
