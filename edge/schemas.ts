/**
 * Request body schemas: the one source for validation here and for the OpenAPI
 * document. Each is compiled once at start-up.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsImport from 'ajv-formats';
import { problems, type FieldError } from './problems.js';

const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv;

const uuid = { type: 'string', format: 'uuid' } as const;
const cents = { type: 'integer', minimum: 0, maximum: 100_000_000_000 } as const;
const text = (min: number, max: number) => ({ type: 'string', minLength: min, maxLength: max }) as const;

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
    properties: {
      name: text(1, 200),
      description: text(0, 5000),
      priceCents: cents,
      currency: { type: 'string', pattern: '^[A-Z]{3}$' },
      stock: { type: 'integer', minimum: 0, maximum: 10_000_000 },
      category: text(1, 100),
      attributes: { type: 'object', maxProperties: 50 },
    },
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
  CreateOrderRequest: {
    type: 'object', additionalProperties: false, required: ['items', 'paymentMethod', 'shippingAddress'],
    properties: {
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
  return error.message ?? 'is invalid';
}

export function toFieldErrors(errors: ErrorObject[] | null | undefined): FieldError[] {
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const error of errors ?? []) {
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
