/**
 * Request body schemas: the one source for validation here and for the OpenAPI
 * document. Each is compiled once at start-up.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsImport from 'ajv-formats';
import { problems, type FieldError } from './problems.js';
import { MEDIA_CONTENT_TYPES } from './media-types.js';

const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv;

const uuid = { type: 'string', format: 'uuid' } as const;
const cents = { type: 'integer', minimum: 0, maximum: 100_000_000_000 } as const;
const text = (min: number, max: number) => ({ type: 'string', minLength: min, maxLength: max }) as const;
const warehouseIdSchema = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,39}$' } as const;

/** A product's own fields, as created and as updated. */
const productFields = {
  name: text(1, 200),
  description: text(0, 5000),
  priceCents: cents,
  currency: { type: 'string', pattern: '^[A-Z]{3}$' },
  category: text(1, 100),
  attributes: { type: 'object', maxProperties: 50 },
} as const;

export const schemas = {
  RegisterRequest: {
    type: 'object', additionalProperties: false, required: ['name', 'email', 'password'],
    properties: {
      name: text(1, 100),
      email: { type: 'string', format: 'email', maxLength: 254 },
      password: text(8, 128),
      role: { type: 'string', enum: ['customer', 'seller'] },
    },
  },
  LoginRequest: {
    type: 'object', additionalProperties: false, required: ['email', 'password'],
    properties: { email: { type: 'string', maxLength: 254 }, password: text(1, 128) },
  },
  CreateProductRequest: {
    type: 'object', additionalProperties: false, required: ['name', 'priceCents', 'stock', 'category'],
    properties: { ...productFields, stock: { type: 'integer', minimum: 0, maximum: 10_000_000 } },
  },
  // A partial update: any of the product's own fields (stock changes go through inventory).
  UpdateProductRequest: {
    type: 'object', additionalProperties: false, minProperties: 1, properties: productFields,
  },
  CreateFlashSaleRequest: {
    type: 'object', additionalProperties: false,
    required: ['productId', 'quantity', 'perUserLimit', 'startsAt', 'endsAt'],
    properties: {
      productId: uuid,
      quantity: { type: 'integer', minimum: 1, maximum: 10_000_000 },
      perUserLimit: { type: 'integer', minimum: 1, maximum: 10_000 },
      startsAt: { type: 'string', format: 'date-time' },
      endsAt: { type: 'string', format: 'date-time' },
      priceCents: cents,
    },
  },
  // Either `items` or `cartId` (the signed-in user's cart), never both.
  CreateOrderRequest: {
    type: 'object', additionalProperties: false, required: ['paymentMethod', 'shippingAddress'],
    if: { type: 'object', properties: { cartId: true }, required: ['cartId'] },
    then: { type: 'object', properties: { items: false } },
    else: { type: 'object', properties: { items: true }, required: ['items'] },
    properties: {
      cartId: uuid,
      items: {
        type: 'array', minItems: 1, maxItems: 50,
        items: {
          type: 'object', additionalProperties: false, required: ['productId', 'quantity'],
          properties: { productId: uuid, quantity: { type: 'integer', minimum: 1, maximum: 1000 } },
        },
      },
      paymentMethod: { type: 'string', pattern: '^pm_[A-Za-z0-9_]{1,100}$' },
      shippingAddress: {
        type: 'object', additionalProperties: false, required: ['name', 'line1', 'city', 'postalCode', 'country'],
        properties: {
          name: text(1, 100), line1: text(1, 200), line2: text(0, 200), city: text(1, 100),
          region: text(0, 100), postalCode: text(1, 20), country: { type: 'string', pattern: '^[A-Z]{2}$' },
        },
      },
    },
  },
  AddCartItemRequest: {
    type: 'object', additionalProperties: false, required: ['productId', 'quantity'],
    properties: { productId: uuid, quantity: { type: 'integer', minimum: 1, maximum: 1000 } },
  },
  SetCartItemRequest: {
    type: 'object', additionalProperties: false, required: ['productId', 'quantity'],
    properties: { productId: uuid, quantity: { type: 'integer', minimum: 0, maximum: 1000 } },
  },
  MergeCartRequest: {
    type: 'object', additionalProperties: false, required: ['items'],
    properties: {
      items: {
        type: 'array', maxItems: 100,
        items: {
          type: 'object', additionalProperties: false, required: ['productId', 'quantity'],
          properties: { productId: uuid, quantity: { type: 'integer', minimum: 1, maximum: 1000 } },
        },
      },
    },
  },
  InventoryAdjustmentRequest: {
    type: 'object', additionalProperties: false, required: ['delta', 'reason'],
    properties: {
      warehouseId: warehouseIdSchema,
      delta: { type: 'integer', minimum: -10_000_000, maximum: 10_000_000 },
      reason: text(1, 200),
    },
  },
  InventoryTransferRequest: {
    type: 'object', additionalProperties: false, required: ['productId', 'fromWarehouseId', 'toWarehouseId', 'quantity'],
    properties: {
      productId: uuid, fromWarehouseId: warehouseIdSchema, toWarehouseId: warehouseIdSchema,
      quantity: { type: 'integer', minimum: 1, maximum: 10_000_000 },
      reason: text(1, 200),
    },
  },
  InventorySettingsRequest: {
    type: 'object', additionalProperties: false, required: ['lowStockThreshold'],
    properties: { lowStockThreshold: { type: 'integer', minimum: 0, maximum: 10_000_000 } },
  },
  CreateWarehouseRequest: {
    type: 'object', additionalProperties: false, required: ['warehouseId', 'name'],
    properties: { warehouseId: warehouseIdSchema, name: text(1, 100) },
  },
  UpdateFlashSaleRequest: {
    type: 'object', additionalProperties: false,
    properties: {
      status: { type: 'string', enum: ['paused', 'live', 'ended'] },
      quantity: { type: 'integer', minimum: 1, maximum: 10_000_000 },
    },
  },
  CreateReviewRequest: {
    type: 'object', additionalProperties: false, required: ['rating'],
    properties: { rating: { type: 'integer', minimum: 1, maximum: 5 }, title: text(0, 200), body: text(0, 5000) },
  },
  /** A payment provider's event (Stripe's event object); the signature is checked on the raw body. */
  PaymentWebhookEvent: {
    type: 'object', required: ['id', 'type', 'data'],
    properties: {
      id: text(1, 255), type: text(1, 255),
      data: { type: 'object', required: ['object'], properties: { object: { type: 'object' } } },
    },
  },
  /** A product image or video to upload: its type and size are fixed here and checked on upload. */
  CreateMediaRequest: {
    type: 'object', additionalProperties: false, required: ['contentType', 'bytes'],
    properties: {
      contentType: { type: 'string', enum: MEDIA_CONTENT_TYPES },
      bytes: { type: 'integer', minimum: 1, maximum: 2 ** 31 },
      fileName: text(1, 255),
    },
  },
  // A shipment of an order's items (edge/routes/shipments.ts); without `items`, all of the caller's unshipped units.
  CreateShipmentRequest: {
    type: 'object', additionalProperties: false, required: ['carrier', 'trackingNumber'],
    properties: {
      carrier: { type: 'string', minLength: 1, maxLength: 100, pattern: '\\S' },
      trackingNumber: { type: 'string', minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9](?:[A-Za-z0-9 ._/-]*[A-Za-z0-9])?$' },
      items: {
        type: 'array', minItems: 1, maxItems: 50,
        items: {
          type: 'object', additionalProperties: false, required: ['productId'],
          properties: { productId: uuid, quantity: { type: 'integer', minimum: 1, maximum: 1000 } },
        },
      },
    },
  },
  // New request schemas go above this line, one entry each (name: JSON Schema).
} as const;

export type SchemaName = keyof typeof schemas;

export interface BodyValidator<T> { readonly schema: SchemaName; parse(value: unknown): T }

const ajv = new Ajv({ allErrors: true, strict: true });
addFormats(ajv);

function fieldOf(error: ErrorObject): string {
  const path = error.instancePath.split('/').slice(1)
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part}`)).join('').replace(/^\./, '');
  const child = error.keyword === 'required' ? String(error.params.missingProperty)
    : error.keyword === 'additionalProperties' ? String(error.params.additionalProperty) : '';
  return [path, child].filter(Boolean).join('.') || '(body)';
}

function messageOf(error: ErrorObject): string {
  if (error.keyword === 'additionalProperties') return 'is not an allowed field';
  if (error.keyword === 'required') return 'is required';
  if (error.keyword === 'false schema') return 'is not allowed together with the other fields sent';
  const limit = Number((error.params as { limit?: number }).limit);
  switch (error.keyword) {
    case 'minLength': return limit === 1 ? 'must not be empty' : `must be at least ${limit} characters long`;
    case 'maxLength': return `must be at most ${limit} characters long`;
    case 'minItems': return limit === 1 ? 'must list at least one item' : `must list at least ${limit} items`;
    case 'maxItems': return `must list at most ${limit} items`;
    default: return error.message ?? 'is invalid';
  }
}

export function toFieldErrors(errors: ErrorObject[] | null | undefined): FieldError[] {
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const error of errors ?? []) {
    if (error.keyword === 'if') continue; // its then/else branch's own errors name the fields
    const fieldError = { field: fieldOf(error), message: messageOf(error) };
    const key = `${fieldError.field}:${fieldError.message}`;
    if (!seen.has(key)) { seen.add(key); out.push(fieldError); }
  }
  return out;
}

export function validator<T>(name: SchemaName): BodyValidator<T> {
  const validate: ValidateFunction = ajv.compile(schemas[name]);
  return {
    schema: name,
    parse(value: unknown): T {
      if (validate(value)) return value as T;
      throw problems.validation(toFieldErrors(validate.errors));
    },
  };
}
